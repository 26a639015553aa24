"""The pool base class: the contract every global pooling satisfies.

A pool maps a feature map [B, C, H, W] to [B, feat_mult * C] for any B >= 1 and H, W >= 1.
``feat_mult`` tells the model head how wide the pooled vector is (timm's convention).
"""
from __future__ import annotations

import torch.nn as nn


class GlobalPool(nn.Module):
    """Base class for global pools. Subclasses set ``feat_mult`` if they widen the output."""

    feat_mult: int = 1

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return ""
