"""What a leaderboard can show: the accuracy columns a table, a comparison and a report read, and
the table's output formats. Plain data, importable without numpy or scipy: the command line offers
these choices before it loads anything heavy."""

from __future__ import annotations

#: --metric choice -> (runs column, title)
METRICS = {
    "best": ("best_test_acc", "best-epoch test accuracy (%)"),
    "final": ("final_test_acc", "final-epoch test accuracy (%)"),
    "at_best_val": (
        "test_acc_at_best_val",
        "test accuracy (%) at the epoch of best validation accuracy (runs with --val-split)",
    ),
}
FORMATS = ("text", "md", "csv", "json")
