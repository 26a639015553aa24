"""A context in which every way to open, stat or list a file, and every way to load or download a
dataset, is recorded and fails: what runs inside it must be pure."""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import urllib.request
from collections.abc import Iterator

import pytest

import poolbench.data.cifar
import poolbench.train.data

_FILE_CALLS = ((builtins, "open"), (io, "open"), (os, "open"), (os, "stat"), (os, "lstat"), (os, "scandir"))
_DATA_CALLS = ((poolbench.data.cifar, "download"), (urllib.request, "urlopen"), (poolbench.train.data, "load_dataset"))


@contextlib.contextmanager
def recording_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Yields the list of the calls made inside the block (``"os.stat('/x')"``); each also raises OSError."""
    calls: list[str] = []

    def refuse(label: str):
        def call(*args, **kwargs):
            calls.append(f"{label}({args[0]!r})" if args else label)
            raise OSError(f"{label} inside a block that must not read the world")

        return call

    with monkeypatch.context() as m:
        for module, name in _FILE_CALLS + _DATA_CALLS:
            m.setattr(module, name, refuse(f"{module.__name__}.{name}"))
        yield calls
