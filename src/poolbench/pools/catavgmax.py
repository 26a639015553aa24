"""Concatenated average and max pooling: [avg, max], twice as wide as the input's channels.

Sources: the lecture seed's ``GlobalPooling`` (avg and max concatenated, head widened to 2C);
timm's ``adaptive_catavgmax_pool2d`` (``timm/layers/adaptive_avgmax_pool.py``); fast.ai's
``AdaptiveConcatPool2d``. ``feat_mult()`` returns 2: the model head takes 2C features.
On a 1x1 map it returns [x, x].
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("catavgmax")
class CatAvgMaxPool(GlobalPool):
    """[B, C, H, W] -> [B, 2C] = cat([avg, max], dim=1)."""

    def feat_mult(self) -> int:
        return 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
