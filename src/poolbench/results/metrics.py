"""What a leaderboard can show: the accuracy columns a table, a comparison and a report read, and
the table's output formats. Plain data, importable without numpy or scipy: the command line offers
these choices before it loads anything heavy."""

from __future__ import annotations

#: --metric choice -> (runs column, title). ``best`` is the benchmark's: the test accuracy of the
#: best epoch, chosen on the test set itself; ``val`` chooses the epoch on a validation split
#: (``--val-split``: metrics.jsonl records val_acc per epoch), the honest selection, where one exists.
METRICS = {
    "best": ("best_test_acc", "best-epoch test accuracy (%) [the benchmark's metric: epoch chosen on the test set]"),
    "final": ("final_test_acc", "final-epoch test accuracy (%)"),
    "val": (
        "test_acc_at_best_val",
        "test accuracy (%) at the epoch of best validation accuracy (validation-selected; runs with --val-split)",
    ),
}
#: earlier names of --metric choices, still accepted by the library
METRIC_ALIASES = {"at_best_val": "val"}
VAL_UNAVAILABLE = (
    "validation-selected accuracy is unavailable: no run here was trained with --val-split "
    "(metrics.jsonl records no val_acc)"
)
FORMATS = ("text", "md", "csv", "json")
