"""Load a user's pool class from a file: ``load_pool_file("path/to/file.py:ClassName")``.

This is the benchmark's convention for user pools (a ``CustomPool`` class in a file): the class
name may be left out (``custom_pool.py`` means ``custom_pool.py:CustomPool``). The class
may be a ``GlobalPool`` or any ``nn.Module`` mapping [B, C, H, W] -> [B, C]; a missing
``feat_mult()`` is read as 1 by the checker and the models (``base.pooled_width``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path

import torch.nn as nn

DEFAULT_CLASS = "CustomPool"  # the benchmark's scaffold names its pool class so


class PoolFileError(ValueError):
    """A user's pool file that failed to import. ``str`` shows the error where the user's file
    raised it (its frames only, none of importlib's or poolbench's) in a few lines; ``one_line``
    says the same in one."""

    MAX_FRAMES = 3  # the innermost frames of the user's file

    def __init__(self, path: Path, exc: BaseException):
        error = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        if isinstance(exc, SyntaxError):  # format_exception_only shows its file, line and caret
            where = f"{Path(exc.filename or path).name}, line {exc.lineno}"
            self.one_line = f"{type(exc).__name__}: {exc.msg} ({where})"
            super().__init__(f"pool file {path} does not compile:\n{error}")
            return
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        shown = "".join(traceback.format_list(frames[-self.MAX_FRAMES :]))
        where = f" ({path.name}, line {frames[-1].lineno})" if frames else ""
        self.one_line = f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")
        super().__init__(f"pool file {path} raised an error while it was imported:\n{shown}{error}")


def is_pool_file_spec(spec: str) -> bool:
    """True for 'something.py' or 'something.py:Name' (a file, not a registered pool name)."""
    path, sep, name = spec.rpartition(":")
    return spec.endswith(".py") or (bool(sep) and path.endswith(".py") and bool(name))


def split_pool_file_spec(spec: str) -> tuple[str, str]:
    """'dir/pool.py:Mine' -> ('dir/pool.py', 'Mine'); 'dir/pool.py' -> ('dir/pool.py', 'CustomPool')."""
    if spec.endswith(".py"):
        return spec, DEFAULT_CLASS
    path_str, sep, name = spec.rpartition(":")
    if not sep or not path_str.endswith(".py") or not name:
        raise ValueError(f"a pool file is 'path/to/file.py' or 'path/to/file.py:ClassName', got {spec!r}")
    return path_str, name


def normalize_pool_file_spec(spec: str) -> str:
    """The spec a run records: the file's resolved path and the class, '/abs/pool.py:CustomPool'.
    ValueError (naming the file) when it does not exist."""
    path_str, name = split_pool_file_spec(spec)
    path = Path(path_str).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"pool file not found: {path_str} (from {spec!r}); give the path of a .py file")
    return f"{path}:{name}"


def pool_file_label(spec: str, sha: str | None, full_path: bool = False) -> str:
    """A table's row label: 'custom_pool.py:CustomPool@3f2a' (file name, class, first 4 hex of its
    sha256), so two files, or two versions of one file, never share a row."""
    path_str, name = split_pool_file_spec(spec)
    where = path_str if full_path else Path(path_str).name
    return f"{where}:{name}" + (f"@{sha[:4]}" if sha else "")


def load_pool_file(spec: str) -> type[nn.Module]:
    """Import ``path.py`` by its path and return its class ``ClassName`` (default ``CustomPool``).
    ValueError when the file is missing or has no such class; ``PoolFileError`` (a ValueError)
    when importing it raises."""
    path_str, name = split_pool_file_spec(spec)
    path = Path(path_str).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"pool file not found: {path_str} (from {spec!r})")
    # A unique module name per file, so two users' 'pool.py' do not shadow each other.
    mod_name = f"poolbench_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's code: its error, not poolbench's internals
        sys.modules.pop(mod_name, None)
        raise PoolFileError(path, exc) from None
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module))
        raise ValueError(f"{path_str} has no class {name!r}; nn.Module classes in it: {', '.join(found) or 'none'}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{spec!r} is not an nn.Module class (got {type(cls).__name__})")
    return cls
