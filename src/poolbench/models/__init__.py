"""CIFAR-style classifiers with a pluggable global pool at the head.

Every model splits ``forward_features`` (the conv trunk, [B, C, H, W]) from ``forward_head``
(pool -> flatten -> Linear over ``pool.feat_mult * C``), as timm's models do.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, List

import torch.nn as nn

from ..registry import Registry

_MODELS = Registry("model")
register_model = _MODELS.register


def create_model(name: str, num_classes: int, in_chans: int = 3, pool: Any = "avg", **kwargs: Any) -> nn.Module:
    """Build a registered model. ``pool`` is a pool name, class or an ``nn.Module`` instance."""
    return _MODELS.create(name, num_classes=num_classes, in_chans=in_chans, pool=pool, **kwargs)


def list_models(pattern: str = "*") -> List[str]:
    return _MODELS.list(pattern)


for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_") and _m.name not in ("head", "aux"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["create_model", "list_models", "register_model"]
