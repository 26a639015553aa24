"""The pool base class: the contract every global pooling satisfies.

A pool maps a feature map [B, C, H, W] to [B, out_features(C)] for any B >= 1 and H, W >= 1.
The pool says how wide that is, and whoever sizes the classifier asks it: ``feat_mult()`` is the
multiplier, called as timm calls it (``num_features * global_pool.feat_mult()`` in timm's
``create_classifier`` and ``ClassifierHead.reset``), so a poolbench pool works inside a timm head;
``out_features(in_channels)`` is the width itself, ``feat_mult() * in_channels`` unless the pool
overrides it: a pool whose width is no multiple of C (a covariance's upper triangle) overrides
``out_features`` and has ``feat_mult()`` raise, naming ``out_features``. ``pooled_width(pool, C)``
asks any module, a timm pool or a plain ``nn.AdaptiveAvgPool2d`` included.

Pictures ask the module: any module whose weights over positions can be drawn (a pool, or a
downsampling applied by surgery) answers ``weight_maps(x)`` (the ``DrawsWeightMaps`` protocol):
given the map ``x`` [B, C, H, W] it sees (or None where its weights do not depend on the input),
it returns the few ``WeightMap`` panels that show what it looks at. ``poolbench.viz`` draws every
module of a model that answers, whatever its class; a new pool with spatial weights gets its
picture by implementing the method, not by being named in viz.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import torch
import torch.nn as nn


class WeightMap(NamedTuple):
    """One picture of a module's pooling weights over the positions of its input map."""

    label: str  # what the map is, e.g. "mean over 64 channels", "channel 0", "copy 0, output (8, 8)"
    weights: torch.Tensor  # [H, W] over the input map (a weighted average's weights sum to 1)
    signed: bool = False  # weights of either sign: drawn on a scale symmetric about 0
    image: int | None = None  # for input-dependent weights: the index of the image in x they belong to


@runtime_checkable
class DrawsWeightMaps(Protocol):
    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]: ...


def mean_and_first(
    maps: torch.Tensor, of: str, first: int = 3, signed: bool = False, per_image: bool = False
) -> list[WeightMap]:
    """The usual panels of a stack of maps [n, H, W]: their mean, then the first few one by one
    (``of`` names what the stack runs over: "channels", "images"; ``per_image`` ties each map
    to the image with its index)."""
    mean = WeightMap(f"mean over {len(maps)} {of}", maps.mean(0), signed)
    one = of[:-1] if of.endswith("s") else of
    return [mean] + [
        WeightMap(f"{one} {i}", maps[i], signed, i if per_image else None) for i in range(min(first, len(maps)))
    ]


def pooled_width(pool: nn.Module, in_channels: int) -> int:
    """How many features ``pool`` returns for an ``in_channels``-channel map: its
    ``out_features(in_channels)`` where it has one, else ``feat_mult() * in_channels`` (timm's pools
    answer that), else ``in_channels`` (a plain module such as ``nn.AdaptiveMaxPool2d(1)`` keeps C).
    A ``feat_mult`` that is a number, not a method (pool files written before it was a method), is
    read as the multiplier."""
    out_features = getattr(pool, "out_features", None)
    if callable(out_features):
        return int(out_features(in_channels))
    mult = getattr(pool, "feat_mult", 1)
    return int(mult() if callable(mult) else mult) * in_channels


class GlobalPool(nn.Module):
    """Base class for global pools. A pool that widens its output overrides ``feat_mult()`` (k*C
    features) or ``out_features(in_channels)`` (any other width).

    Lazily sized tensors: a pool that learns per-channel or per-position weights but was not told
    ``channels`` / ``size`` keeps an *empty* parameter or buffer and fills it on the first input
    (``_materialize``). Filling assigns ``.data``, so the Parameter object an optimizer already holds
    stays the same one. An empty tensor also takes a checkpoint's shape on ``load_state_dict``, so
    a freshly built pool loads a trained one without a dummy forward.
    """

    #: Map sizes on which the pool loses information by definition, with why ({"1x1": "..."}): the
    #: contract's information row reports such a size as a known, stated loss instead of a failure.
    loses_information_on: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Pool files written for earlier poolbench declare ``feat_mult = 2`` (or a property): still
        # read, made the method timm calls, so an old run's pool file rebuilds its model unchanged.
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("feat_mult")
        if isinstance(declared, int):
            cls.feat_mult = _constant_feat_mult(declared)  # type: ignore[method-assign]
        elif isinstance(declared, property) and declared.fget is not None:
            cls.feat_mult = declared.fget  # type: ignore[method-assign, assignment]

    def feat_mult(self) -> int:
        """Pooled features per input channel (1: [B, C]), called as timm calls it. A widening pool
        overrides it; one whose width is no multiple of C overrides ``out_features`` instead."""
        return 1

    def out_features(self, in_channels: int) -> int:
        """The pooled vector's width for an ``in_channels``-channel map: what the classifier reads."""
        return self.feat_mult() * in_channels

    def _materialize(self, name: str, shape, value: float = 0.0) -> None:
        if getattr(self, name).numel() == 0:
            self._fill(name, tuple(shape), value)

    @torch.compiler.disable  # runs eagerly once, so a pool compiled before its first input still works
    def _fill(self, name: str, shape, value: float) -> None:
        t = getattr(self, name)
        t.data = torch.full(shape, value, dtype=t.dtype, device=t.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            src = state_dict.get(prefix + name)
            if t is not None and src is not None and t.numel() == 0 and src.numel() > 0:
                t.data = torch.empty(src.shape, dtype=t.dtype, device=t.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return ""


def _constant_feat_mult(k: int):
    def feat_mult(self) -> int:
        return k

    return feat_mult
