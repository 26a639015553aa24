"""Attention pooling: one learned query, softmax over positions, values = the features themselves.

Sources: the context-modelling block of GCNet (Cao, Xu, Lin, Wei & Hu, "GCNet: Non-local Networks
Meet Squeeze-Excitation Networks and Beyond", ICCV-W 2019, Sec. 4: a_s = softmax_s(w^T x_s),
out = sum_s a_s x_s) and SimPool (Psomas et al., "Keep It SimPool: Who Said Supervised
Transformers Suffer from Attention Deficit?", ICCV 2023: single-query attention with values = x).

Here the score of a position is q . x_s / sqrt(C) with one learned query q in R^C (the 1/sqrt(C)
keeps the softmax temperature independent of width, as in dot-product attention). q starts at
zero, so the pool starts as GAP. The attention is data-dependent: ``spatial_weights(x)`` returns
it per sample. Computed in fp32 with autocast off. On a 1x1 map the softmax is 1: the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool, WeightMap, mean_and_first


@register_pool("attn")
class AttnPool(GlobalPool):
    """sum_s softmax_s(q . x_s / sqrt(C)) x_s with a learned query q (init 0 = GAP)."""

    def __init__(self, channels: int | None = None):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(channels or 0))

    def _attention(self, z: torch.Tensor) -> torch.Tensor:
        """Softmax weights [B, N] for flattened features z [B, C, N] (fp32)."""
        self._materialize("query", (z.shape[1],))
        scores = torch.einsum("c,bcn->bn", self.query.float(), z) / math.sqrt(z.shape[1])
        return torch.softmax(scores, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().flatten(2)
            return torch.einsum("bn,bcn->bc", self._attention(z), z)

    @torch.no_grad()
    def spatial_weights(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The attention map of each sample, [B, H, W] (it depends on x, so x is required)."""
        if x is None:
            raise ValueError("attn weights depend on the input: call spatial_weights(x) with a [B, C, H, W] map")
        return self._attention(x.float().flatten(2)).view(x.shape[0], *x.shape[2:])

    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``): the mean attention over x's images, then three images'."""
        return mean_and_first(self.spatial_weights(x), "images", per_image=True)
