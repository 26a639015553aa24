"""``poolbench compare A [B]``: per column, A minus B with a bootstrap CI, Welch and paired tests;
without B, A against every baseline (``--against``) or a published baseline (``--published``)."""

from __future__ import annotations

import sys

from ..results.metrics import METRICS
from ..runs import RUNS_ENV
from ._validate import folder

PUBLISHED_SOURCES = ("benchmark", "rerun")  # results.published.SOURCES, literal: the parser loads no numpy


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare pools per column (bootstrap CI, Welch, paired over seeds); A alone: vs baselines",
        description="For each column (model-dataset, same protocol) where both pools have finished "
        "runs: mean difference A-B, its 95% bootstrap confidence interval, Welch's "
        "t-test p, and a paired t-test / Wilcoxon over matching seeds. Without B: A against "
        "every baseline with runs (avg, max, gem, avgmax; --against picks), one row each.",
    )
    p.add_argument(
        "a",
        metavar="A",
        help="pool label as in the table, e.g. gem or 'gem(p=2)', or a unique prefix of one (custom_pool.py)",
    )
    p.add_argument("b", metavar="B", nargs="?", help="pool label to compare against (or --against / --published)")
    p.add_argument(
        "--against",
        help="comma list of pools to compare A with, one row each "
        "(the default without B and --published: every baseline with runs)",
    )
    p.add_argument(
        "--published",
        metavar="SOURCE|BASELINE",
        help="compare A's standard-protocol runs with published runs: `A B --published benchmark|rerun` "
        "compares with baseline B (avg_max, gem, global_max, or our names avgmax, max) of the benchmark's "
        "three seeds or of the third-party rerun (seeds 1-3, VGG-16-BN; collapses count as diverged); "
        "`A --published B` is B of the benchmark",
    )
    p.add_argument("--column", default=None, help="only this column, e.g. resnet56-cifar100")
    p.add_argument("--runs-dir", type=folder, default=None, help=f"runs directory (default: ${RUNS_ENV} or 'runs')")
    p.add_argument("--metric", choices=list(METRICS), default="best")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args) -> int:
    from ._warnings import warnings_as_lines

    with warnings_as_lines("poolbench compare"):  # each unreadable run: one line after the comparison
        return _compare(args)


def _compare(args) -> int:
    from poolbench.results.compare import (
        compare_against,
        compare_pools,
        compare_with_published,
        comparison_json,
        render_against,
        render_comparison,
        render_published_comparison,
        resolve_pool,
    )
    from poolbench.results.index import build_index
    from poolbench.runs import default_runs_dir

    source, baseline = "benchmark", args.published
    if args.published in PUBLISHED_SOURCES:  # A B --published SOURCE: B is the published baseline
        source, baseline, args.b = args.published, args.b, None
        if baseline is None:
            print(
                f"poolbench compare: name the published baseline as B, e.g. `poolbench compare {args.a} gem "
                f"--published {source}`",
                file=sys.stderr,
            )
            return 2
    if sum(x is not None for x in (args.b, baseline, args.against)) > 1:
        print(
            "poolbench compare: give one of a pool B, --published BASELINE or --against POOLS, not both",
            file=sys.stderr,
        )
        return 2
    if args.published and args.metric != "best":
        print(
            f"poolbench compare: the published baselines are best-epoch accuracies; --metric {args.metric} "
            f"cannot be compared with them (use --metric best)",
            file=sys.stderr,
        )
        return 2
    try:
        conn = build_index(args.runs_dir or default_runs_dir())
        try:
            a = resolve_pool(conn, args.a)
            if args.published:
                res = compare_with_published(conn, a, baseline, args.column, source)
            elif args.b:
                b = resolve_pool(conn, args.b)
                results = compare_pools(conn, a, b, args.metric, args.column)
            else:
                against = [x.strip() for x in args.against.split(",") if x.strip()] if args.against else None
                results = compare_against(conn, a, against, args.metric, args.column)
        finally:
            conn.close()
    except (OSError, ValueError) as e:  # no runs directory, a full disk, a bad pool label: one line
        print(f"poolbench compare: {e}", file=sys.stderr)
        return 2
    if args.published:
        if args.format == "json":
            sys.stdout.write(
                comparison_json(
                    res["comparisons"],
                    a,
                    f"published {res['published']} ({res['source']})",
                    "best",
                    skipped=res["skipped"],
                )
            )
        else:
            sys.stdout.write(render_published_comparison(res, a))
    elif args.b:
        render = comparison_json if args.format == "json" else render_comparison
        sys.stdout.write(render(results, a, b, args.metric))
    elif args.format == "json":
        sys.stdout.write(comparison_json(results, a, "baselines", args.metric))
    else:
        sys.stdout.write(render_against(results, a, args.metric))
    return 0
