"""Sweep executors: where the runs of a sweep are trained.

- ``local`` (default): in-process, one run (or pack) after another, no server.
- ``ray``: one Ray task per run or per pack on a real cluster (``pip install poolbench[ray]``).

Both call the same worker body (``base.run_task``), so a run is trained, skipped, resumed and
recorded identically whichever executor runs it.

A new executor is one file in this package: a module that defines ``NAME`` (its ``--executor``
name) and ``create(ray_address=None)`` (the executor object: ``run(configs, runs_dir, ...)`` as
``local.LocalExecutor``); it is found here, by name, without being listed anywhere else. ``NAME``
is a string literal: the command line reads it from the source, without importing the module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any


def _executor_infos() -> list[pkgutil.ModuleInfo]:
    """The modules of this package that may be executors (``base`` and private modules are not)."""
    infos = sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    return [info for info in infos if not info.name.startswith("_") and info.name != "base"]


def _declared_name(info: pkgutil.ModuleInfo) -> str | None:
    """The string a module assigns to ``NAME`` at its top level, read from its source without importing it."""
    path = Path(getattr(info.module_finder, "path", "")) / f"{info.name}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "NAME" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def executor_names() -> tuple[str, ...]:
    """Every executor's ``NAME``, the default ("local") first, then by name: the order --help lists them in.

    Read from the modules' source, not imported, so the command line can offer ``--executor``
    without loading torch (the executors import the training engine)."""
    names = {n for n in map(_declared_name, _executor_infos()) if n}
    return tuple(sorted(names, key=lambda name: (name != "local", name)))


def executor_modules() -> dict[str, ModuleType]:
    """Every executor module of this package, by its ``NAME`` (imported)."""
    found: dict[str, ModuleType] = {}
    for info in _executor_infos():
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return found


EXECUTORS = executor_names()


def get_executor(name: str, ray_address: str | None = None) -> Any:
    """An executor by name: ``"local"`` or ``"ray"`` (``ray_address`` only matters for ray)."""
    modules = executor_modules()
    if name not in modules:
        raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    return modules[name].create(ray_address=ray_address)


__all__ = ["EXECUTORS", "executor_modules", "executor_names", "get_executor"]
