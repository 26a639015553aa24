"""``poolbench report``: one self-contained HTML page (plus Markdown) from the run directories."""

from __future__ import annotations

import sys

from ..runs import RUNS_ENV
from ._validate import folder


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write report.html (self-contained) and report.md from the runs",
        description="Leaderboard, published reference, bar charts with 95% CIs, learning curves, "
        "pictures from the run directories and the provenance of every run.",
    )
    p.add_argument("--runs-dir", type=folder, default=None, help=f"runs directory (default: ${RUNS_ENV} or 'runs')")
    p.add_argument("--out", type=folder, default="out/report", help="output directory (default: out/report)")
    p.set_defaults(func=run)


def run(args) -> int:
    from poolbench.results.report import write_report
    from poolbench.runs import default_runs_dir

    from ._warnings import warnings_as_lines

    with warnings_as_lines("poolbench report"):  # each unreadable run: one line (and a list in the page)
        try:
            html_path, md_path = write_report(args.runs_dir or default_runs_dir(), args.out)
        except (OSError, ValueError) as e:  # no runs directory, a full disk, a planted link: one line
            print(f"poolbench report: {e}", file=sys.stderr)
            return 2
        print(f"wrote {html_path}\nwrote {md_path}")
    return 0
