"""iSQRT-COV: global covariance pooling with an iterative matrix square root.

Source: Li, Xie, Wang & Gao, "Towards Faster Training of Global Covariance Pooling Networks by
Iterative Matrix Square Root Normalization", CVPR 2018 (arXiv:1712.01034), Sec. 3, and the
authors' code (jiangtaoxie/fast-MPN-COV, ``MPNCOV``). With X [d, N] the reduced map's N positions:

    X = W X_in                            1x1 convolution to d channels (``dim``; ``reduce=False``:
                                          none, d = C)
    S = X Ibar X^T, Ibar = (I - 1 1^T / N) / N         the covariance (Eq. 1)
    A = S / tr(S)                          pre-normalisation by the trace (Eq. 4)
    Y_0 = A, Z_0 = I;  Y_k = Y_{k-1} T_k,  Z_k = T_k Z_{k-1},  T_k = (3I - Z_{k-1} Y_{k-1}) / 2
                                           Newton-Schulz iterations, k = 1..n (Eq. 2-3)
    C = sqrt(tr(S)) Y_n                    post-compensation (Eq. 5)
    y = the upper triangle of C, row by row, diagonal included: d(d+1)/2 features

The reduction is the 1x1 convolution alone. The authors follow it with BN and ReLU
(``bn_relu=True`` restores that): their BN cannot train on a batch of one 1x1 map (the contract's
B = 1 case), and their ReLU zeroes every reduced channel whose response is negative at every
position, which leaves rows of the covariance constant (at initialisation the contract's
information row finds 66 to 791 of the 2080 features constant on 8x8 to 2x2 maps with it).

``iterations`` n = 5 (the authors' ResNet-50; their module's default is 3). The width is not a
multiple of C, so the pool declares it with ``out_features`` and ``feat_mult()`` refuses.

The guard: tr(S) is 0 wherever the positions are all equal (a constant map, and always on a 1x1
map, where the covariance of one position is the zero matrix); the authors' code then divides
0 by 0 and returns NaN. Here the trace is taken as tr(S) + ``eps`` (1e-5) in both the
pre-normalisation and the compensation, so S = 0 gives A = 0, Y_n = 0 and the output 0, with
finite gradients. **On a 1x1 map the output is therefore the constant 0: covariance pooling keeps
no information there** (declared in ``loses_information_on``; the contract's information row says
so). Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


def covariance(x: torch.Tensor) -> torch.Tensor:
    """[B, d, N] -> [B, d, d]: X Ibar X^T = (1/N) sum_s (x_s - mean)(x_s - mean)^T."""
    centred = x - x.mean(dim=2, keepdim=True)
    return centred @ centred.transpose(1, 2) / x.shape[2]


def newton_schulz_sqrt(s: torch.Tensor, iterations: int, eps: float) -> torch.Tensor:
    """sqrt(S) by trace pre-normalisation, ``iterations`` coupled Newton-Schulz steps and
    post-compensation; tr(S) + eps in place of tr(S) (see the module docstring)."""
    eye = torch.eye(s.shape[1], dtype=s.dtype, device=s.device).expand_as(s)
    trace = s.diagonal(dim1=1, dim2=2).sum(1).reshape(-1, 1, 1) + eps
    y, z = s / trace, eye
    for _ in range(iterations):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    return y * trace.sqrt()


@register_pool("cov")
class CovariancePool(GlobalPool):
    """Upper triangle of the Newton-Schulz square root of the (reduced) map's covariance."""

    loses_information_on = {
        "1x1": "the covariance of a single position is the zero matrix: the output is 0 (a guard, not NaN)"
    }

    def __init__(
        self,
        channels: int,
        dim: int = 64,
        reduce: bool = True,
        iterations: int = 5,
        eps: float = 1e-5,
        bn_relu: bool = False,
    ):
        super().__init__()
        self.dim = dim if reduce else channels
        self.iterations, self.eps = iterations, eps
        block: list[nn.Module] = [nn.Conv2d(channels, dim, 1, bias=False)] if reduce else []
        if bn_relu:
            block += [nn.BatchNorm2d(self.dim), nn.ReLU()]
        self.reduce = nn.Sequential(*block)
        self.upper: torch.Tensor  # flat indices of the upper triangle, diagonal included
        rows, cols = torch.triu_indices(self.dim, self.dim)
        self.register_buffer("upper", rows * self.dim + cols, persistent=False)

    def feat_mult(self) -> int:
        raise ValueError(f"cov's width {self.dim}*({self.dim}+1)/2 is no multiple of C: ask out_features(C)")

    def out_features(self, in_channels: int) -> int:
        return self.dim * (self.dim + 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        with torch.autocast(x.device.type, enabled=False):
            s = covariance(x.float().flatten(2))
            root = newton_schulz_sqrt(s, self.iterations, self.eps)
            return root.flatten(1)[:, self.upper]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, iterations={self.iterations}, eps={self.eps}"
