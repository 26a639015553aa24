"""FlexPooling: a learned weighted average over the H*W positions, weights = softmax(logits).

Source: Ali, Alsuwaidi & Khan, "FlexPooling with Simple Auxiliary Classifiers in Deep Networks",
VISAPP 2023: FlexPooling "generalizes average pooling by learning a weighted average pooling over
the activations jointly with the rest of the network" (regularised FlexPool adds an L2 penalty
on the weights, see ``weight_penalty``).

- One logit per position, shared over channels (default), or one map per channel
  (``per_channel=True``). Logits start at zero, so the pool starts as GAP.
- The logits are sized by ``size=(H, W)`` (and ``channels`` if per-channel) when given, otherwise
  on the first input seen. A later input of another spatial size raises ``ValueError`` naming both
  sizes, unless ``adapt="interpolate"``: then the logits are bilinearly resized to the new map
  (the stored parameter keeps its size; the softmax is taken after resizing).
- On a 1x1 map the single weight is 1: the identity.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_pool
from .base import GlobalPool


@register_pool("flex")
class FlexPool(GlobalPool):
    """sum_s softmax(logits)_s x_s, logits [1 or C, H, W] learned, init 0 (= GAP)."""

    def __init__(
        self,
        channels: Optional[int] = None,
        per_channel: bool = False,
        size: Optional[Tuple[int, int]] = None,
        adapt: Optional[str] = None,
    ):
        super().__init__()
        if adapt not in (None, "interpolate"):
            raise ValueError(f"flex adapt must be None or 'interpolate', got {adapt!r}")
        self.per_channel, self.adapt = per_channel, adapt
        rows = (channels or 0) if per_channel else 1
        shape = (rows, *size) if size is not None and rows else (0,)
        self.logits = nn.Parameter(torch.zeros(shape))

    def _logits_for(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [rows, H, W] matching x's map, sizing them on first use."""
        h, w = x.shape[-2:]
        self._materialize("logits", (x.shape[1] if self.per_channel else 1, h, w))
        logits = self.logits
        if tuple(logits.shape[-2:]) != (h, w):
            if self.adapt != "interpolate":
                have = "x".join(map(str, logits.shape[-2:]))
                raise ValueError(
                    f"flex was sized for {have} maps but got {h}x{w}; build it with size=({h}, {w}) "
                    f"or adapt='interpolate' to resize its weights bilinearly"
                )
            logits = F.interpolate(logits[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            weights = torch.softmax(self._logits_for(x).float().flatten(1), dim=1)  # [rows, N]
            return (x.float().flatten(2) * weights).sum(dim=2)

    @torch.no_grad()
    def spatial_weights(self, x: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The pooling weights, [H, W] (shared) or [C, H, W] (per channel); x only to size/adapt."""
        logits = self._logits_for(x) if x is not None else self.logits
        if logits.numel() == 0:
            raise ValueError("flex has not seen an input yet: pass x or build it with size=(H, W)")
        weights = torch.softmax(logits.float().flatten(1), dim=1).view_as(logits)
        return weights if self.per_channel else weights[0]

    def weight_penalty(self) -> torch.Tensor:
        """L2 regulariser on the logits (sum of squares), for the paper's regularised FlexPool."""
        return self.logits.pow(2).sum()

    def extra_repr(self) -> str:
        return f"per_channel={self.per_channel}, logits={tuple(self.logits.shape)}, adapt={self.adapt}"
