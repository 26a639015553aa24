"""``CsvLogger``: each run's epochs as a CSV file, for a spreadsheet or pandas, as Lightning's
``CSVLogger`` writes them.

``folder/<run_id>/metrics.csv`` holds one row per finished epoch of the run, its header the keys of
the run's records (those of ``metrics.jsonl``: epoch, lr, train_loss, train_acc, test_loss,
test_acc, val_acc, epoch_time_s), a missing value (no validation split) an empty cell; a float is
written as Python's shortest round-tripping form, so the file reads back to ``metrics.jsonl``'s
values exactly. One logger serves every run of a fit, a pack's too.

The file is rewritten whole after every epoch from the run's history (``fileio.atomic_write_text``:
a temporary file renamed over it, never written through a link): a run that resumes starts from its
checkpoint's history, so a row written after the last checkpoint a kill lost is dropped, and no row
is ever written twice.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ...fileio import atomic_write_text, make_folder
from .base import Callback, EpochEnd, Member, Record

FILE_NAME = "metrics.csv"


def csv_text(rows: list[Record]) -> str:
    """The CSV of ``rows``: a header of their keys in first-seen order, one line per row."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    if fields:
        writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()


class CsvLogger(Callback):
    """Writes ``folder/<run_id>/metrics.csv`` for every run of the fits it is given to."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._history: dict[str, list[Record]] = {}

    def path(self, run_id: str) -> Path:
        return self.folder / run_id / FILE_NAME

    def on_run_start(self, member: Member, checkpoint: dict[str, Any] | None, packed_with: list[str] | None) -> None:
        self._history[member.run_id] = list(checkpoint["history"]) if checkpoint is not None else []
        self._write(member.run_id)

    def on_train_epoch_end(self, member: Member, end: EpochEnd) -> None:
        self._history[member.run_id].append(end.record)
        self._write(member.run_id)

    def on_diverged(self, member: Member, epoch: int, why: str, seconds: float) -> None:
        self._history.pop(member.run_id, None)

    def on_run_finished(self, member: Member) -> None:
        self._history.pop(member.run_id, None)

    def on_exception(self, member: Member, exc: BaseException) -> None:
        self._history.pop(member.run_id, None)

    def _write(self, run_id: str) -> None:
        make_folder(self.folder / run_id)
        atomic_write_text(self.path(run_id), csv_text(self._history[run_id]))
