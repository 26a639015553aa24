"""``poolbench table``: the leaderboard of the runs in a runs directory."""

from __future__ import annotations

import sys

from ..results.metrics import FORMATS, METRICS
from ..runs import RUNS_ENV
from ._validate import folder


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "table",
        help="leaderboard: rows pools, columns model-dataset, mean ± std (n) over seeds",
        description="Print the benchmark's table from the run directories (index rebuilt each time). "
        "Standard and non-standard protocols are separate sections; the published "
        "baselines follow as a reference block.",
    )
    p.add_argument("--runs-dir", type=folder, default=None, help=f"runs directory (default: ${RUNS_ENV} or 'runs')")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument(
        "--metric",
        choices=list(METRICS),
        default="best",
        help="best: best-epoch test accuracy (the benchmark's); final: last epoch; "
        "val: test accuracy at the best validation epoch (--val-split runs; unavailable without)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from poolbench.results.table import load_leaderboard, render
    from poolbench.runs import default_runs_dir

    from ._warnings import warnings_as_lines

    with warnings_as_lines("poolbench table"):  # each unreadable run: one line after the table
        try:
            lb = load_leaderboard(args.runs_dir or default_runs_dir(), args.metric)
        except (OSError, ValueError) as e:  # no runs directory, a full disk, a planted link: one line
            print(f"poolbench table: {e}", file=sys.stderr)
            return 2
        sys.stdout.write(render(lb, args.format))
    return 0
