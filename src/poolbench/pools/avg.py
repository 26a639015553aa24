"""Global average pooling (GAP): the mean of each channel over all H*W positions.

Source: Lin, Chen & Yan, "Network In Network", ICLR 2014, Sec. 3.2 (global average pooling).
On a 1x1 map it is the identity.
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("avg")
class AvgPool(GlobalPool):
    """[B, C, H, W] -> [B, C]: the per-channel spatial mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))
