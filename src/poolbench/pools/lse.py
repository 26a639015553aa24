"""Log-sum-exp (LSE) pooling with a learnable sharpness r: (1/r) log( mean_s exp(r x_s) ).

Source: Pinheiro & Collobert, "From Image-level to Pixel-level Labeling with Convolutional
Networks", CVPR 2015, Eq. (4) (LSE aggregation; r large -> max, r small -> average). The
1/(H*W) inside the log makes it mean-like, so it lies between avg (r -> 0) and max (r -> inf).

Numerics: ``torch.logsumexp`` subtracts the maximum before exp, and it is computed in fp32 with
autocast off. r is kept positive by clamping at ``r_min``. On a 1x1 map it is the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


@register_pool("lse")
class LSEPool(GlobalPool):
    """(1/r) (logsumexp_s(r x_s) - log(H*W)); r learnable, init 10 (our default, not the paper's)."""

    def __init__(self, r: float = 10.0, learn_r: bool = True, r_min: float = 1e-4):
        super().__init__()
        self.r = nn.Parameter(torch.tensor(float(r)), requires_grad=learn_r)
        self.r_min = r_min

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            r = self.r.float().clamp(min=self.r_min)
            z = x.float().flatten(2)
            return (torch.logsumexp(r * z, dim=2) - math.log(z.shape[2])) / r

    def extra_repr(self) -> str:
        return f"r={self.r.item():.3f}"
