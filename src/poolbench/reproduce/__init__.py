"""Reproductions of the seed papers' tables: one module per paper, one name each.

A reproduction module defines ``NAME`` (the ``poolbench reproduce`` name, e.g. ``birodkar2019``),
``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``. It runs what is missing
(resumable, through the sweep executors) and prints the paper's table layout with the paper's
numbers beside ours; it reports only runs that exist.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def reproductions() -> dict[str, ModuleType]:
    """Every reproduction module in this package, by its ``NAME``."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return found
