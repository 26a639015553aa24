"""Generalised-mean (GeM) pooling: (mean_s x_s^p)^(1/p) with a learnable exponent p.

Source: Radenovic, Tolias & Chum, "Fine-tuning CNN Image Retrieval with No Human Annotation",
TPAMI 2018 (arXiv:1711.02512), Eq. (1): p = 1 is average pooling, p -> inf is max pooling;
p is learned, initialised at 3; activations are clamped at eps so that x^p is defined.

- ``gem``: one p shared by all channels (the paper).
- ``gem_channel``: one p per channel (the paper's per-feature-map variant, Sec. 3.1).

Numerics: computed in fp32 with autocast disabled (x^p is where half precision overflows), and
via GeM's 1-homogeneity, m * GeM(x / m) with m = max_s x_s, so that x^p never overflows for large
x or large p. On a 1x1 map it returns max(x, eps).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


def gem(x: torch.Tensor, p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GeM over H*W; ``p`` is a scalar or a [C] tensor. Returns fp32 [B, C]."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.float().clamp(min=eps).flatten(2)  # [B, C, N]
        p = p.float().reshape(1, -1, 1)  # broadcast a scalar or per-channel p
        m = x.amax(dim=2, keepdim=True)  # >= eps > 0
        pooled = (x / m).pow(p).mean(dim=2)  # in (0, 1]: the max position contributes 1/N
        return pooled.pow(1.0 / p.squeeze(2)) * m.squeeze(2)


@register_pool("gem")
class GeMPool(GlobalPool):
    """GeM with one learnable p (init 3) shared over channels."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)), requires_grad=learn_p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p, self.eps)

    def extra_repr(self) -> str:
        return f"p={self.p.item():.3f}, eps={self.eps}"


@register_pool("gem_channel")
class GeMChannelPool(GlobalPool):
    """GeM with one learnable p per channel (init 3); sized on the first input if ``channels`` is None."""

    def __init__(self, channels: int | None = None, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True):
        super().__init__()
        self.init_p = float(p)
        self.p = nn.Parameter(torch.full((channels or 0,), self.init_p), requires_grad=learn_p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._materialize("p", (x.shape[1],), self.init_p)
        return gem(x, self.p, self.eps)

    def extra_repr(self) -> str:
        return f"channels={self.p.numel() or None}, eps={self.eps}"
