"""Generalized max pooling: the vector equally similar to every position.

Source: Murray & Perronnin, "Generalized Max Pooling", CVPR 2014, Sec. 3. Max pooling of one-hot
(bag-of-words) codes gives a vector whose dot product with every patch code is the same; GMP asks
that of any codes, in the least-squares sense. With X [C, N] the map's N position vectors:

    xi = argmin_xi ||X^T xi - 1_N||^2 + lam ||xi||^2        the primal (ridge regression)
       = (X X^T + lam I_C)^{-1} X 1_N                        its solution
       = X alpha,  (X^T X + lam I_N) alpha = 1_N             the dual: K = X^T X, the Gram matrix

(the two agree because (X X^T + lam I)^{-1} X = X (X^T X + lam I)^{-1}). The pool solves whichever
system is smaller: the dual (N x N) when N <= C, as on the benchmark's maps, else the primal
(C x C). ``lam`` = 1 (fixed; the paper cross-validates it). Output width C. On a 1x1 map
xi = x / (||x||^2 + lam): x rescaled per sample, not the identity, not a constant. Computed in fp32
with autocast off; the solve in float64, since the Gram matrix of large activations is badly
conditioned in fp32.
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("gmp")
class GeneralizedMaxPool(GlobalPool):
    """xi = X (X^T X + lam I)^{-1} 1 = (X X^T + lam I)^{-1} X 1 over the positions X [C, N]."""

    def __init__(self, lam: float = 1.0):
        super().__init__()
        if not lam > 0:
            raise ValueError(f"gmp: lam must be > 0 (the ridge term makes the system solvable), got {lam}")
        self.lam = lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = x.double().flatten(2)  # [B, C, N]
            b, c, n = z.shape
            if n <= c:  # dual: alpha [B, N]
                gram = z.transpose(1, 2) @ z + self.lam * torch.eye(n, dtype=z.dtype, device=z.device)
                alpha = torch.linalg.solve(gram, z.new_ones(b, n, 1))
                xi = z @ alpha
            else:  # primal
                outer = z @ z.transpose(1, 2) + self.lam * torch.eye(c, dtype=z.dtype, device=z.device)
                xi = torch.linalg.solve(outer, z.sum(2, keepdim=True))
            return xi[..., 0].to(torch.float32)

    def extra_repr(self) -> str:
        return f"lam={self.lam}"
