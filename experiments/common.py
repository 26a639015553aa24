"""What the research screens' analysis scripts share: reading their committed run directories
through ``poolbench.results`` and the pieces their summary tables are made of.

A screen's own directory holds ``screen.py`` (its protocol, variants and selection rule), its run
directories and ``analyze.py`` (its own sections). A script there reaches this module with

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import common

and its ``screen`` module with ``common.import_screen(HERE)``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from scipy import stats as sps

from poolbench.results.index import pool_label, read_run
from poolbench.results.stats import summarize

Row = dict[str, Any]
Cells = dict[tuple[str, str], list[Row]]

# The three test accuracies every screen reports, with their column titles.
METRICS = (
    ("best_test_acc", "best-epoch test"),
    ("final_test_acc", "final-epoch test"),
    ("test_acc_at_best_val", "test at best-val epoch"),
)


def import_screen(here: Path) -> ModuleType:
    """The ``screen.py`` beside an analysis script, imported as the module ``screen`` (one per process)."""
    spec = importlib.util.spec_from_file_location("screen", here / "screen.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no screen.py in {here}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["screen"] = module
    spec.loader.exec_module(module)
    return module


def read_ended(run_dir: Path, statuses: Iterable[str], no_val: float | None) -> Row | None:
    """The run's index row if its status is one of ``statuses``, with ``best_val`` added: the best
    validation accuracy over its completed epochs, ``no_val`` when it has none."""
    if not (run_dir / "result.json").exists():
        return None
    row, epochs = read_run(run_dir)
    if row["status"] not in statuses:
        return None
    vals = [e["val_acc"] for e in epochs if e.get("val_acc") is not None]
    row["best_val"] = max(vals) if vals else no_val
    return row


def load_cells(here: Path, row_of: Callable[[Path], Row | None]) -> Cells:
    """{(column, pool label): rows} over the run directories in ``here`` that ``row_of`` keeps."""
    cells: Cells = defaultdict(list)
    for cfg_path in sorted(here.glob("*/config.json")):
        row = row_of(cfg_path.parent)
        if row is not None:
            cells[(row["column_key"], row["pool"])].append(row)
    return cells


def mean_std(values: list[float]) -> str:
    """``m ± s (n=k)``; one value has no std; none is ``-``."""
    m, s, n = summarize(values)
    if n == 0:
        return "-"
    return f"{m:.2f} ± {s:.2f} (n={n})" if n > 1 else f"{m:.2f} (n=1)"


def welch_ci(a: list[float], b: list[float], with_p: bool = False) -> str:
    """Welch's t 95% CI of mean(a) - mean(b) (scipy): honest about tiny n, unlike a bootstrap."""
    if len(a) < 2 or len(b) < 2:
        return "n/a (n<2)"
    result = sps.ttest_ind(a, b, equal_var=False)
    lo, hi = result.confidence_interval(0.95)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a (no variance)"
    return f"[{lo:+.2f}, {hi:+.2f}]" + (f", p = {result.pvalue:.3f}" if with_p else "")


def label(pool: str, args: dict[str, Any]) -> str:
    """The table label ``poolbench table`` gives a pool with these arguments."""
    return pool_label({"pool": pool, "pool_args": args})


def write_summary(here: Path, lines: list[str]) -> int:
    """Write ``here/summary.md`` and print it; the script's exit status."""
    text = "\n".join(lines) + "\n"
    (here / "summary.md").write_text(text)
    print(text)
    return 0
