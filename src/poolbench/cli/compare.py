"""``poolbench compare A B``: per column, A minus B with a bootstrap CI, Welch and paired tests."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    from poolbench.results.index import RUNS_ENV
    from poolbench.results.table import METRICS

    p = subparsers.add_parser(
        "compare", help="compare two pools per column (bootstrap CI, Welch, paired over seeds)",
        description="For each column (model-dataset, same protocol) where both pools have finished "
                    "runs: mean difference A-B, its 95%% bootstrap confidence interval, Welch's "
                    "t-test p, and a paired t-test / Wilcoxon over matching seeds.")
    p.add_argument("a", metavar="A", help="pool label as in the table, e.g. gem or 'gem(p=2)'")
    p.add_argument("b", metavar="B", nargs="?", help="pool label to compare against (or --published)")
    p.add_argument("--published", metavar="BASELINE",
                   help="compare A's standard-protocol runs with a published baseline's three seeds "
                        "(avg_max, gem, global_max, or our names avgmax, max) instead of B")
    p.add_argument("--column", default=None, help="only this column, e.g. resnet56-cifar100")
    p.add_argument("--runs-dir", default=None, help=f"runs directory (default: ${RUNS_ENV} or 'runs')")
    p.add_argument("--metric", choices=list(METRICS), default="best")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args) -> int:
    from poolbench.results.compare import (compare_pools, compare_with_published, comparison_json,
                                           render_comparison, render_published_comparison)
    from poolbench.results.index import build_index, default_runs_dir

    if (args.b is None) == (args.published is None):
        print("poolbench compare: give either a pool B or --published BASELINE, not both or neither",
              file=sys.stderr)
        return 2
    if args.published and args.metric != "best":
        print(f"poolbench compare: the published baselines are best-epoch accuracies; --metric {args.metric} "
              f"cannot be compared with them (use --metric best)", file=sys.stderr)
        return 2
    try:
        conn = build_index(args.runs_dir or default_runs_dir())
        try:
            if args.published:
                res = compare_with_published(conn, args.a, args.published, args.column)
            else:
                results = compare_pools(conn, args.a, args.b, args.metric, args.column)
        finally:
            conn.close()
    except (FileNotFoundError, ValueError) as e:
        print(f"poolbench compare: {e}", file=sys.stderr)
        return 2
    if args.published:
        if args.format == "json":
            sys.stdout.write(comparison_json(res["comparisons"], args.a, f"published {res['published']}", "best",
                                             skipped=res["skipped"]))
        else:
            sys.stdout.write(render_published_comparison(res, args.a))
        return 0
    render = comparison_json if args.format == "json" else render_comparison
    sys.stdout.write(render(results, args.a, args.b, args.metric))
    return 0
