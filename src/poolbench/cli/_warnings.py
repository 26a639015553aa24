"""Warnings of a command (a run directory that cannot be read, a figure that cannot be drawn) as
one line each on stderr, after the command's output, instead of Python's two-line warning format."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def warnings_as_lines(prog: str) -> Iterator[None]:
    """Collect the warnings raised inside and print each as ``prog: message`` on one line."""
    from poolbench.results.safe_text import plain

    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            for w in caught:
                print(f"{prog}: {plain(w.message, 600)}", file=sys.stderr)
