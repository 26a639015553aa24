"""Gated max-average pooling as Lee et al. define it: a learned mask over the region's positions
reads the values and gates between max and average.

Source: Lee, Gallagher & Tu, "Generalizing Pooling Functions in Convolutional Neural Networks:
Mixed, Gated, and Tree", AISTATS 2016, Eq. (2):

    f_gate(x) = sigmoid(w^T x) f_max(x) + (1 - sigmoid(w^T x)) f_avg(x)

with x the values of one pooling region and w the gating mask, one weight per position of the
region, shared by the channels of a layer (the paper's "one gating mask per layer" variant). For a
global pool the region is the whole H x W map, so w has H*W weights and the pool is tied to the map
size it was sized for: ``size=(H, W)``, or the first input's; another size is a ``ValueError``
naming both. w starts at 0 (gate 1/2: ``avgmax_half``). On a 1x1 map max = avg = x: the identity,
whatever the gate. ``avgmax_gated`` is the size-free variant (its gate reads [avg, max]).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


@register_pool("lee_gated")
class LeeGatedPool(GlobalPool):
    """g max + (1 - g) avg per sample and channel, g = sigmoid(sum_s w_s x_s), w one weight per position."""

    def __init__(self, size: tuple[int, int] | None = None):
        super().__init__()
        self.mask = nn.Parameter(torch.zeros(size[0] * size[1] if size else 0))
        self.size: tuple[int, int] | None = (int(size[0]), int(size[1])) if size else None

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The one map size the pool accepts once sized (the contract checks that size only)."""
        return self.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        if self.size is None and self.mask.numel() in (0, h * w):  # sized by its first input (or a loaded mask)
            self.size = (h, w)
        if self.size != (h, w):
            raise ValueError(
                f"lee_gated: its gating mask has {self.mask.numel()} weights, one per position of the map it was "
                f"sized for, got a {h}x{w} map; build the pool for this size (size=({h}, {w})) or use avgmax_gated"
            )
        self._materialize("mask", (h * w,))
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().flatten(2)  # [B, C, N]
            g = torch.sigmoid(z @ self.mask.float())  # [B, C]
            return g * z.amax(2) + (1 - g) * z.mean(2)

    def extra_repr(self) -> str:
        return f"size={self.size}"
