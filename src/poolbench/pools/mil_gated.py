"""Gated attention-based multiple-instance pooling.

Source: Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance Learning", ICML 2018,
Eq. (10): the attention of ``mil_attn`` (Eq. 9) with a sigmoid gate, because tanh is nearly linear
for small inputs:

    a_k = exp(w^T (tanh(V h_k) * sigm(U h_k))) / sum_j exp(w^T (tanh(V h_j) * sigm(U h_j)))
    z = sum_k a_k h_k

V, U in R^{L x C}, w in R^L (L = ``hidden`` = 128), no biases. Output width C. On a 1x1 map
a_1 = 1: the identity. Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .mil_attn import MILAttentionPool


@register_pool("mil_gated")
class MILGatedAttentionPool(MILAttentionPool):
    """sum_k softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k))) h_k over the positions h_k."""

    def __init__(self, channels: int, hidden: int = 128):
        super().__init__(channels, hidden)
        self.U = nn.Linear(channels, hidden, bias=False)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        return self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h)))[..., 0]
