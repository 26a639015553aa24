"""Callbacks of ``train.fit``: the ``Callback`` hooks (``base``) and the optional loggers a user
adds to a run (``csv_logger``). The run recorder (``train.recorder``) and the progress output
(``train.progress``) are callbacks too; a new one is one file here."""

from __future__ import annotations

from .base import Callback, EpochEnd, FitStart, Member, Record
from .csv_logger import CsvLogger

__all__ = ["Callback", "CsvLogger", "EpochEnd", "FitStart", "Member", "Record"]
