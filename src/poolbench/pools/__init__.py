"""Global pools behind one registry (after timm's ``adaptive_avgmax_pool`` and ``_registry``).

>>> from poolbench.pools import create_pool, list_pools
>>> pool = create_pool("gem", p=3.0)
>>> list_pools("avg*")
['avg', 'avgmax', 'avgmax_gated', 'avgmax_half']
>>> check_pool("gem").passed   # the contract (pools/check.py)
True
>>> swap_pool(model, "gem")      # into a built poolbench, timm or torchvision classifier (pools/swap.py)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch

from ..registry import Registry
from .base import GlobalPool, pooled_width

_POOLS = Registry("pool")
register_pool = _POOLS.register


def create_pool(name_or_class: str | Callable[..., Any], **kwargs: Any) -> GlobalPool:
    """Build a pool by registered name (or from a class/factory) with keyword arguments."""
    return _POOLS.create(name_or_class, **kwargs)


def build_pool(pool: Any, channels: int, **kwargs: Any) -> torch.nn.Module:
    """What models call: a pool from a name, class or ready module, told its channel count.

    ``channels`` is passed only to pools whose constructor accepts it (per-channel parameters);
    a ready ``nn.Module`` is returned as is (a plain module such as ``nn.AdaptiveMaxPool2d`` is a
    pool too, hence the return type).
    """
    if isinstance(pool, torch.nn.Module):
        return pool
    factory = _POOLS.get(pool) if isinstance(pool, str) else pool
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if isinstance(factory, type) and cast(Any, factory).__init__ is torch.nn.Module.__init__:
        params = {}  # no __init__ of its own: Module.__init__'s **kwargs does not take channels
    if "channels" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs.setdefault("channels", channels)
    return factory(**kwargs)


def list_pools(pattern: str = "*") -> list[str]:
    """Registered pool names matching a shell wildcard, sorted."""
    return _POOLS.list(pattern)


def get_pool_class(name: str) -> Callable[..., Any]:
    return _POOLS.get(name)


def is_pool(name: str) -> bool:
    return name in _POOLS


def canonical_pool_name(name: str) -> str:
    """A pool's registered name: old run directories may name a pool by a name it was renamed from."""
    return _POOLS.canonical(name)


# Import every pool module so its @register_pool runs (one pool per file; check.py is not a pool).
for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("base", "check", "loader", "swap"):
        importlib.import_module(f"{__name__}.{_m.name}")

from .check import CheckReport, check_pool  # noqa: E402 - the contract needs the registry above
from .swap import swap_pool  # noqa: E402 - builds pools through the registry above

__all__ = [
    "GlobalPool",
    "pooled_width",
    "register_pool",
    "create_pool",
    "build_pool",
    "list_pools",
    "get_pool_class",
    "is_pool",
    "canonical_pool_name",
    "check_pool",
    "CheckReport",
    "swap_pool",
]
