"""Sweep executors: where the runs of a sweep are trained.

- ``local`` (default): in-process, one run (or pack) after another, no server.
- ``ray``: one Ray task per run or per pack on a real cluster (``pip install poolbench[ray]``).

Both call the same worker body (``base.run_task``), so a run is trained, skipped, resumed and
recorded identically whichever executor runs it.

A new executor is one file in this package: a module that defines ``NAME`` (its ``--executor``
name) and ``create(ray_address=None)`` (the executor object: ``run(configs, runs_dir, ...)`` as
``local.LocalExecutor``); it is found here, by name, without being listed anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def executor_modules() -> dict[str, ModuleType]:
    """Every executor module of this package, by its ``NAME`` (``base`` and private modules are not executors)."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return found


# the default ("local") first, then the others by name: the order --help lists them in
EXECUTORS = tuple(sorted(executor_modules(), key=lambda name: (name != "local", name)))


def get_executor(name: str, ray_address: str | None = None) -> Any:
    """An executor by name: ``"local"`` or ``"ray"`` (``ray_address`` only matters for ray)."""
    modules = executor_modules()
    if name not in modules:
        raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    return modules[name].create(ray_address=ray_address)


__all__ = ["EXECUTORS", "executor_modules", "get_executor"]
