"""Mixed max-average pooling: a learned per-channel mix a * max + (1 - a) * avg.

Source: Lee, Gallagher & Tu, "Generalizing Pooling Functions in Convolutional Neural Networks:
Mixed, Gated, and Tree", AISTATS 2016, Eq. (1) ("mixed max-average pooling"), with one mixing
proportion per channel (the paper's per-layer/channel "responsiveness" options), applied globally.

The paper constrains a to [0, 1]; we parametrise a = sigmoid(logit) so the constraint never stops
the gradient. ``init`` is the starting a (0.5 = ``avgmax_half``). On a 1x1 map it is the
identity, whatever a is.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool


@register_pool("mixed")
class MixedPool(GlobalPool):
    """a_c * max + (1 - a_c) * avg with a_c = sigmoid(logit_c), one per channel."""

    def __init__(self, channels: int | None = None, init: float = 0.5):
        super().__init__()
        if not 0.0 < init < 1.0:
            raise ValueError(f"mixed needs 0 < init < 1 (the starting share of max), got {init}")
        self.init_logit = math.log(init / (1.0 - init))
        self.logit = nn.Parameter(torch.full((channels or 0,), self.init_logit))

    def mix(self) -> torch.Tensor:
        """The per-channel share of max, a in (0, 1), shape [C]."""
        return torch.sigmoid(self.logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._materialize("logit", (x.shape[1],), self.init_logit)
        a = self.mix().to(x.dtype)
        return a * x.amax(dim=(2, 3)) + (1 - a) * x.mean(dim=(2, 3))
