"""Avg-max gated pooling: a gate read from the map's own mean and max mixes max and avg, per sample.

Source: the gated max-average pooling of Lee, Gallagher & Tu, "Generalizing Pooling Functions in
Convolutional Neural Networks: Mixed, Gated, and Tree", AISTATS 2016, Eq. (2):
f_gate(x) = sigmoid(w^T x) max(x) + (1 - sigmoid(w^T x)) avg(x), w^T x reading the region's values.

This pool is NOT that equation, hence its name: a global region changes size with the input (8x8
on ResNet, 1x1 on VGG-16-BN), so a w with one weight per position of the region would tie the pool
to one map size. Its gate reads a size-free summary of the region instead, the region's own mean
and max: g_c = sigmoid(w_avg avg_c + w_max max_c + b), (w_avg, w_max, b) shared by all channels as
the paper's mask is shared within a layer (``lee_gated`` is the paper's equation, tied to one map
size). Initialised at zero (g = 0.5, i.e. ``avgmax_half``).
On a 1x1 map avg = max = x, so it is the identity whatever the gate.

Registered as ``avgmax_gated``; ``gated``, the name it had before, is an alias, so run directories
that name ``gated`` still build this pool and are labelled ``avgmax_gated``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


@register_pool("avgmax_gated", aliases=("gated",))
class AvgMaxGatedPool(GlobalPool):
    """g * max + (1 - g) * avg with g = sigmoid(w . [avg, max] + b) per sample and channel."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(2, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg, mx = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
        g = torch.sigmoid(self.gate(torch.stack([avg, mx], dim=-1)).squeeze(-1))  # [B, C]
        return g * mx + (1 - g) * avg
