"""Global max pooling (GMP): the largest activation of each channel over all H*W positions.

Source: Oquab, Bottou, Laptev & Sivic, "Is object localization for free? Weakly-supervised
learning with convolutional neural networks", CVPR 2015 (global max pooling at the head).
On a 1x1 map it is the identity. The gradient goes to the arg-max (split evenly among ties).
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("max")
class MaxPool(GlobalPool):
    """[B, C, H, W] -> [B, C]: the per-channel spatial maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))
