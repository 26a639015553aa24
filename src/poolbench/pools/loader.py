"""Load a user's pool class from a file: ``load_pool_file("path/to/file.py:ClassName")``.

This is the benchmark's convention for user pools (a ``CustomPool`` class in a file). The class
may be a ``GlobalPool`` or any ``nn.Module`` mapping [B, C, H, W] -> [B, C]; a missing
``feat_mult`` is read as 1 by the checker and the models.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Type

import torch.nn as nn


def is_pool_file_spec(spec: str) -> bool:
    """True for 'something.py:Name' (what the CLI treats as a file, not a registered name)."""
    path, sep, name = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(name)


def load_pool_file(spec: str) -> Type[nn.Module]:
    """Import ``path.py`` by its path and return its class ``ClassName`` (an nn.Module subclass)."""
    path_str, sep, name = spec.rpartition(":")
    if not sep or not path_str or not name:
        raise ValueError(f"pool file spec must be 'path/to/file.py:ClassName', got {spec!r}")
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
    except Exception:
        sys.modules.pop(mod_name, None)
        raise
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module))
        raise ValueError(f"{path_str} has no class {name!r}; nn.Module classes in it: {', '.join(found) or 'none'}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{spec!r} is not an nn.Module class (got {type(cls).__name__})")
    return cls
