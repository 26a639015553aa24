"""Data errors. Each message names the file that is wrong and says what to do about it."""

from __future__ import annotations


class DataError(Exception):
    """Base class for every data problem poolbench reports."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """The source files are not where we looked (and could not be downloaded)."""


class ChecksumError(DataError):
    """A file's MD5 is not the official one: the file is corrupt, truncated or a different file."""


class CorruptDataError(DataError):
    """A file exists but cannot be read: truncated, not the expected format, inconsistent sizes."""


class DataInterrupted(KeyboardInterrupt):
    """Ctrl-C while a dataset was read or decoded: its message says so (no epoch had started)."""
