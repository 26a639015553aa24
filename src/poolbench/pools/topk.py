"""Top-k pooling: the mean of the k largest activations of each channel.

Sources: k-max pooling (Kalchbrenner, Grefenstette & Blunsom, "A Convolutional Neural Network for
Modelling Sentences", ACL 2014) and its use as a global image pool in WELDON (Durand, Thome &
Cord, "WELDON: Weakly Supervised Learning of Deep Convolutional Neural Networks", CVPR 2016,
top-instance term). k = 1 is max pooling; k = H*W is average pooling.

k is clipped to H*W, so any map size works; on a 1x1 map it is the identity.
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("topk")
class TopKPool(GlobalPool):
    """[B, C, H, W] -> [B, C]: mean of the min(k, H*W) largest values per channel."""

    def __init__(self, k: int = 4):
        super().__init__()
        if k < 1:
            raise ValueError(f"topk needs k >= 1, got k={k}")
        self.k = int(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(2)
        return z.topk(min(self.k, z.shape[2]), dim=2).values.mean(dim=2)

    def extra_repr(self) -> str:
        return f"k={self.k}"
