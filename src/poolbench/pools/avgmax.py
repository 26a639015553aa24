"""Average + max pooling, summed (timm's ``adaptive_avgmax_pool2d`` family).

Source: timm, ``timm/layers/adaptive_avgmax_pool.py`` (Wightman, pytorch-image-models).

- ``avgmax`` = avg + max, a *plain sum*. This is the benchmark's ``avg_max`` baseline
  ("cv-pooling-aggregation"), so it is kept unscaled: on a 1x1 map it returns 2x.
- ``avgmax_half`` = 0.5 (avg + max), timm's ``adaptive_avgmax_pool2d``; the identity on a 1x1 map.
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("avgmax")
class AvgMaxPool(GlobalPool):
    """avg + max (plain sum): the benchmark's ``avg_max`` baseline."""

    scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x.mean(dim=(2, 3)) + x.amax(dim=(2, 3)))


@register_pool("avgmax_half")
class AvgMaxHalfPool(AvgMaxPool):
    """0.5 (avg + max): timm's ``adaptive_avgmax_pool2d``, on the scale of its inputs."""

    scale = 0.5
