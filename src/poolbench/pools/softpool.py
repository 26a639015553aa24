"""SoftPool: the softmax-weighted average of the activations, sum_s softmax(x)_s * x_s.

Source: Stergiou, Poppe & Kalliatakis, "Refining activation downsampling with SoftPool",
ICCV 2021, Eqs. (1)-(2), applied globally (one region = the whole H x W map).

Numerics: ``softmax`` subtracts the per-channel maximum before exp, so huge activations cannot
overflow; fp32 with autocast off. A constant map returns the constant; a 1x1 map is the identity.
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("softpool")
class SoftPool(GlobalPool):
    """[B, C, H, W] -> [B, C]: sum_s w_s x_s with w = softmax over positions, per channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().flatten(2)
            return (torch.softmax(z, dim=2) * z).sum(dim=2)
