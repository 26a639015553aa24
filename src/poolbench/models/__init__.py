"""CIFAR-style classifiers with a pluggable global pool at the head.

Every model splits ``forward_features`` (the conv trunk, [B, C, H, W]) from ``forward_head``
(pool -> flatten -> Linear over the pool's width, ``pooled_width(pool, C)``), as timm's models do.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn as nn

from ..registry import Registry
from .head import PooledClassifier

_MODELS = Registry("model")
register_model = _MODELS.register


def create_model(name: str, num_classes: int, in_chans: int = 3, pool: Any = "avg", **kwargs: Any) -> nn.Module:
    """Build a registered model. ``pool`` is a pool name, class or an ``nn.Module`` instance."""
    return _MODELS.create(name, num_classes=num_classes, in_chans=in_chans, pool=pool, **kwargs)


def list_models(pattern: str = "*") -> list[str]:
    return _MODELS.list(pattern)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The registered builder of ``name`` (its signature lists the model's arguments)."""
    return _MODELS.get(name)


@functools.cache
def final_map_size(name: str, image_size: int = 32) -> tuple[int, int]:
    """(H, W) of the map the pool sees for an image_size x image_size input (every poolbench dataset
    is 32x32). Computed by running the trunk on the meta device: shapes only, no arithmetic."""
    with torch.device("meta"):
        model = cast(PooledClassifier, create_model(name, num_classes=10, in_chans=3).eval())  # every zoo model is one
        feats = model.forward_features(torch.empty(2, 3, image_size, image_size))
    return int(feats.shape[-2]), int(feats.shape[-1])


for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_") and _m.name not in ("head", "aux"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["create_model", "final_map_size", "list_models", "register_model"]
