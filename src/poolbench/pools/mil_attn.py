"""Attention-based multiple-instance pooling: a small network scores each position.

Source: Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance Learning", ICML 2018,
Eq. (9) (the positions h_1..h_N of the map are the bag's instances):

    a_k = exp(w^T tanh(V h_k)) / sum_j exp(w^T tanh(V h_j)),    z = sum_k a_k h_k

with V in R^{L x C}, w in R^L (``hidden`` = L = 128, the paper's), no biases, as the equation
(the authors' code, AMLab-Amsterdam/AttentionDeepMIL, adds biases; the one on w cancels in the
softmax). Output width C. On a 1x1 map a_1 = 1: the identity. Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool, WeightMap, mean_and_first
from .multihead import positions


@register_pool("mil_attn")
class MILAttentionPool(GlobalPool):
    """sum_k softmax_k(w^T tanh(V h_k)) h_k over the positions h_k."""

    def __init__(self, channels: int, hidden: int = 128):
        super().__init__()
        self.V = nn.Linear(channels, hidden, bias=False)
        self.w = nn.Linear(hidden, 1, bias=False)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """w^T tanh(V h_k) for positions h [B, N, C] -> [B, N]."""
        return self.w(torch.tanh(self.V(h)))[..., 0]

    def _attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = positions(x)
        return torch.softmax(self.scores(h), dim=1), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            a, h = self._attention(x)
            return torch.einsum("bn,bnc->bc", a, h)

    @torch.no_grad()
    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``): the attention over the positions of x's images."""
        if x is None:
            raise ValueError(f"{type(self).__name__} weights depend on the input: call weight_maps(x)")
        return mean_and_first(self._attention(x)[0].view(x.shape[0], *x.shape[2:]), "images", per_image=True)
