"""SimPool: attention pooling whose query is the map's own average.

Source: Psomas, Kakogeorgiou, Karantzalos & Avrithis, "Keep It SimPool: Who Said Supervised
Transformers Suffer from Attention Deficit?", ICCV 2023 (arXiv:2309.06891), Sec. 4 and the
authors' code (billpsomas/simpool, ``sp.py``). With X the map's N position vectors:

    q = W_q GAP(X)                       the query: the average of the raw features
    V = LN(X),  K = V W_k^T               keys and values from the layer-normalised features
    a = softmax(K q / sqrt(d))            one weight per position (per head: d = C / heads)
    y = a^T V                             gamma None
    y = (a^T (V - m + eps)^gamma)^(1/gamma) (+ beta)    gamma > 0: a power mean of the values

``gamma``: the authors use 2 for convolutional networks and None for transformers. ``m`` makes
the values positive for the power. The authors subtract the minimum of the whole value tensor
(every sample of the batch, every head, position and channel), so a sample's output would depend
on the rest of its batch; here m is the minimum over the sample's own positions and channels, the
same shift per sample. timm's ``SimPool2d`` subtracts the minimum over positions per channel
instead, which on a 1x1 map leaves eps in every channel: a constant output. Here, on a 1x1 map,
a = 1 and y = LN(x) (gamma None) or LN(x) - min_c LN(x) + eps (gamma > 0): the layer-normalised
vector, shifted, not a constant. ``beta`` (``use_beta``): the authors' optional learned offset,
init 0. LN has eps 1e-6 and an affine transform, as in the authors' code. Computed in fp32 with
autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool
from .multihead import attend, heads_for, positions


@register_pool("simpool")
class SimPool(GlobalPool):
    """Attention with the GAP query over layer-normalised positions; optional power mean (gamma)."""

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        gamma: float | None = None,
        use_beta: bool = False,
        qkv_bias: bool = False,
        eps: float = 1e-6,
    ):
        super().__init__()
        num_heads = heads_for(channels, num_heads, "simpool")
        if gamma is not None and not gamma > 0:
            raise ValueError(f"simpool: gamma must be None or > 0, got {gamma}")
        self.num_heads, self.gamma, self.eps = num_heads, gamma, eps
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.wq = nn.Linear(channels, channels, bias=qkv_bias)
        self.wk = nn.Linear(channels, channels, bias=qkv_bias)
        self.beta = nn.Parameter(torch.zeros(1)) if use_beta else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = positions(x)  # [B, N, C]
            q = self.wq(z.mean(1, keepdim=True))  # [B, 1, C]
            v = self.norm(z)
            k = self.wk(v)
            if self.gamma is None:
                return attend(q, k, v, self.num_heads)[:, 0]
            m = v.amin(dim=(1, 2), keepdim=True)  # per sample: over its positions and channels
            y = attend(q, k, (v - m + self.eps).pow(self.gamma), self.num_heads)[:, 0].pow(1 / self.gamma)
            return y if self.beta is None else y + self.beta

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, gamma={self.gamma}"
