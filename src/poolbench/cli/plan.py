"""``poolbench plan``: the smallest difference n seeds can detect in a column, and the seeds a given
difference needs, from the column's measured spread (published runs, your runs, or both)."""

from __future__ import annotations

import sys

from ..results.metrics import METRICS
from ..runs import RUNS_ENV

# plain literals: the parser is built before numpy or scipy is imported
SPREAD_SOURCES = ("published", "runs", "both")
PUBLISHED_SOURCES = ("benchmark", "rerun")


def _seed_list(text: str) -> list[int]:
    import argparse

    try:
        seeds = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of seed counts, e.g. 3,10,20") from None
    if not seeds or seeds[0] < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: every seed count must be 2 or more (a test needs 2 a side)")
    return seeds


def _number(ok, what: str):
    """An argparse type: a float for which ``ok`` holds, else one line saying what it must be."""

    def parse(text: str) -> float:
        import argparse

        try:
            x = float(text)
        except ValueError:
            x = float("nan")
        if not ok(x):
            raise argparse.ArgumentTypeError(f"{text!r} must be {what}")
        return x

    return parse


_fraction = _number(lambda x: 0 < x < 1, "a number between 0 and 1, e.g. 0.05")
_positive = _number(lambda x: x > 0, "a positive number of accuracy points, e.g. 0.5")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plan",
        help="seeds a claim needs: the smallest detectable difference at n seeds, from a column's spread",
        description="From a column's measured run-to-run spread (the published runs, your runs, or both), "
        "print the smallest difference a two-sided test detects with n seeds (unpaired: n per pool; "
        "paired: n matching seeds), by the normal approximation and by the exact t-test, and with "
        "--difference the seeds that difference needs.",
    )
    p.add_argument("--column", required=True, help="a column, e.g. resnet56-cifar100 (our names)")
    p.add_argument(
        "--spread",
        choices=SPREAD_SOURCES,
        default="published",
        help="where the spread comes from: the published runs (default), your runs, or both pooled",
    )
    p.add_argument(
        "--published", choices=PUBLISHED_SOURCES, default="benchmark", help="which published runs (default: benchmark)"
    )
    p.add_argument("--pools", default=None, help="comma list: only these pools' spread (default: every pool)")
    p.add_argument("--sd", type=_positive, default=None, help="use this sd (accuracy points) instead of a measured one")
    p.add_argument("--seeds", type=_seed_list, default=None, help="seed counts to tabulate (default 2,3,5,10,20)")
    p.add_argument("--difference", type=_positive, default=None, help="also print the seeds this difference needs")
    p.add_argument("--alpha", type=_fraction, default=0.05, help="two-sided significance level (default 0.05)")
    p.add_argument("--power", type=_fraction, default=0.8, help="probability of detecting it (default 0.8)")
    p.add_argument("--metric", choices=list(METRICS), default="best", help="which accuracy of your runs (default best)")
    p.add_argument("--protocol", default=None, help="your runs' protocol label (default: standard)")
    p.add_argument("--runs-dir", default=None, help=f"runs directory (default: ${RUNS_ENV} or 'runs')")
    p.set_defaults(func=run)


def run(args) -> int:
    from poolbench.results.plan import DEFAULT_SEEDS, render_plan, spread_for
    from poolbench.results.power import Spread

    pools = [x.strip() for x in args.pools.split(",") if x.strip()] if args.pools else None
    try:
        if args.sd is not None:
            spread = Spread(
                source=f"given on the command line (--sd {args.sd:g})", column=args.column, sd=args.sd, df=0
            )
        else:
            conn = None
            if args.spread != "published":
                from poolbench.results.index import build_index
                from poolbench.runs import default_runs_dir

                conn = build_index(args.runs_dir or default_runs_dir())
            spread = spread_for(args.column, args.spread, args.published, conn, args.metric, args.protocol, pools)
    except (FileNotFoundError, ValueError) as e:
        print(f"poolbench plan: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(render_plan(spread, args.seeds or DEFAULT_SEEDS, args.difference, args.alpha, args.power))
    return 0
