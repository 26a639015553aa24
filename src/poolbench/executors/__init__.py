"""Sweep executors: where the runs of a sweep are trained.

- ``local`` (default): in-process, one run (or pack) after another, no server.
- ``ray``: one Ray task per run or per pack on a real cluster (``pip install poolbench[ray]``).

Both call the same worker body (``base.run_task``), so a run is trained, skipped, resumed and
recorded identically whichever executor runs it.

A new executor is one file in this package: a class with the ``protocol.Executor`` shape
(``name``; ``run(configs, runs_dir) -> {run_id: result}``; its options are its constructor's
keywords) under ``@register_executor("NAME")``. ``create_executor(name, **options)`` imports
every module of the package and builds it by name, so the file is listed nowhere else;
``executor_names()`` reads the names from the decorators in the source, without importing
anything, so ``--executor`` is offered before torch loads.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ..registry import Registry, declared_names
from .protocol import Executor

_EXECUTORS = Registry("executor")
register_executor = _EXECUTORS.register


def executor_names() -> tuple[str, ...]:
    """Every executor's name, the default ("local") first, then by name: the order --help lists them in.

    Read from the ``@register_executor("NAME")`` decorators in the package's source, not imported
    (the executors import the training engine)."""
    names = declared_names(__path__, "register_executor")
    return tuple(sorted(names, key=lambda name: (name != "local", name)))


def _import_executors() -> None:
    """Import every module of this package, so that each registers its executor."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


EXECUTORS = executor_names()


def create_executor(name: str, **options: Any) -> Executor:
    """The executor registered as ``name``, built with its own options (``local``: ``pack``,
    ``progress``, ``device``, ...; ``ray``: ``address``, ``pack``, ``progress``, ...).

    An unknown name is a ValueError listing the valid ones; an option that executor does not
    take is a TypeError naming it."""
    _import_executors()
    return _EXECUTORS.create(name, **options)


def list_executors() -> list[str]:
    """The names of the registered executors (imported: those registered at run time too)."""
    _import_executors()
    return _EXECUTORS.list()


__all__ = ["EXECUTORS", "Executor", "create_executor", "executor_names", "list_executors", "register_executor"]
