"""Claims: several processes share one runs directory's work, each run (or file) made by one of them.

The local executor claims every run before training it, so two ``poolbench sweep`` (or ``run``, or
``reproduce``) processes on one machine never train the same run at once: the second one leaves it
to the first and reports it as held (its command exits 1: run it again when the other is done).
A reproduction claims the files it makes besides runs (fitted weights) the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Yields True if this process may produce ``path`` (a run directory or a file), False while
    another live process holds its claim.

    The claim is an exclusive ``flock`` on ``path``.lock, which the kernel releases when its process
    ends, however it ends: what the file holds (empty after a full disk, ``-1``, a PID reused by
    another program) never keeps a run claimed. Its content (pid, host, start time, what is
    claimed) only tells a person who holds it. A process holds its claim for as long as the
    ``with`` block runs; asking again for a path it holds yields False (one maker per path)."""
    lock = path.parent / f"{path.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = _lock(lock)
    if fd is None:
        yield False  # a live process holds it
        return
    try:
        with contextlib.suppress(OSError):  # a full disk: the flock alone is the claim
            os.ftruncate(fd, 0)
            os.write(fd, _lock_note(path).encode())
        yield True
    finally:
        lock.unlink(missing_ok=True)  # while still flocked: no one claims a file about to vanish
        os.close(fd)


def _lock(lock: Path, tries: int = 100) -> int | None:
    """An fd holding the exclusive flock of the file at ``lock``, or None while another process holds it."""
    import fcntl  # POSIX: imported where a claim is made, so the package imports anywhere

    for _ in range(tries):
        if lock.is_symlink():  # never write through a link we did not make
            lock.unlink(missing_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:  # its holder unlinks the file when done: one opened just before that is a dead one
            current = os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False))
        except FileNotFoundError:
            current = False
        if current:
            return fd
        os.close(fd)
    raise OSError(f"{lock} keeps being replaced; remove it and run again")


def _lock_note(path: Path) -> str:
    """Who holds the claim, for a person reading the lock file."""
    note = {"pid": os.getpid(), "host": platform.node(), "claims": path.name, "since": time.strftime("%FT%T%z")}
    return json.dumps(note) + "\n"
