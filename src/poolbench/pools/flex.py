"""FlexPooling: a learned weighted average over the H*W positions of each channel.

Source: Ali, Alsuwaidi & Khan, "FlexPooling with Simple Auxiliary Classifiers in Deep Networks",
VISAPP 2023 (paper and code: github.com/aliman80/FlexPoolU). The paper's Sec. 3: a FlexPooling
block "matches the final stage's block shape" [C, H, W], "every value ... initially is set to
1/(height x width)", the block is multiplied with the map and summed over H x W:

    y_k = sum_ij w_ijk x_ijk                                         (raw weights, the paper's text)

and, because "nothing guarantees that the FlexPool blocks' parameters remain as weighted average
values", the paper's Eq. 2 regulariser

    R(FlexPool) = sum_k (sum_ij w_ijk - 1)^2.

The authors' code (``resnet_softflexpool.py``, ``resnet_mscale.py``) instead takes a softmax over
the positions of each channel before the weighted sum, so the weights are a convex combination by
construction (and R is identically 0):

    y_k = sum_ij softmax_ij(theta_k)_ij x_ijk                        (the authors' code)

- ``weighting="softmax"`` (default, the authors' code) or ``"raw"`` (the paper's text, with R).
- ``per_channel=True`` (default: one map per channel, the paper's w_ijk and the code's
  ``flex_pool3`` of shape [C, H, W]); ``False`` shares one map over the channels.
- Initialisation is uniform, so both start as GAP: the code's softmax of a constant block; the
  paper's raw 1/(H*W). (Our softmax parameters start at 0 instead of the code's 1/(H*W): a
  softmax is unchanged by a constant shift, so the weights are the same.)
- The parameters are sized by ``size=(H, W)`` (and ``channels`` if per-channel) when given,
  otherwise on the first input seen. A later input of another spatial size raises ``ValueError``
  naming both sizes, unless ``adapt="interpolate"``: then the parameters are bilinearly resized to
  the new map (the stored parameter keeps its size; for softmax, the softmax is taken after
  resizing; raw weights are rescaled by (H0*W0)/(H*W) so each channel's sum is kept).
- On a 1x1 map the single softmax weight is 1 (the identity); a raw weight w gives w * x (the
  identity at initialisation).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_pool
from .base import GlobalPool, WeightMap, mean_and_first

WEIGHTINGS = ("softmax", "raw")


@register_pool("flex")
class FlexPool(GlobalPool):
    """sum_s w_s x_s per channel, w = softmax(theta) (code) or raw w with init 1/(H*W) (paper)."""

    def __init__(
        self,
        channels: int | None = None,
        per_channel: bool = True,
        weighting: str = "softmax",
        size: tuple[int, int] | None = None,
        adapt: str | None = None,
    ):
        super().__init__()
        if adapt not in (None, "interpolate"):
            raise ValueError(f"flex adapt must be None or 'interpolate', got {adapt!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"flex weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        self.per_channel, self.weighting, self.adapt = bool(per_channel), weighting, adapt
        rows = (channels or 0) if self.per_channel else 1
        shape = (rows, *size) if size is not None and rows else (0,)
        # softmax: logits theta (uniform = 0); raw: the weights themselves (uniform = 1/(H*W))
        init = 0.0 if weighting == "softmax" or size is None else 1.0 / (size[0] * size[1])
        self.logits = nn.Parameter(torch.full(shape, init))

    def _params_for(self, x: torch.Tensor) -> torch.Tensor:
        """The parameters [rows, H, W] matching x's map, sizing them on first use."""
        h, w = x.shape[-2:]
        init = 0.0 if self.weighting == "softmax" else 1.0 / (h * w)
        self._materialize("logits", (x.shape[1] if self.per_channel else 1, h, w), init)
        theta: torch.Tensor = self.logits
        h0, w0 = theta.shape[-2:]
        if (h0, w0) != (h, w):
            if self.adapt != "interpolate":
                raise ValueError(
                    f"flex was sized for {h0}x{w0} maps but got {h}x{w}; build it with size=({h}, {w}) "
                    f"or adapt='interpolate' to resize its weights bilinearly"
                )
            theta = F.interpolate(theta[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            if self.weighting == "raw":
                theta = theta * (h0 * w0) / (h * w)
        return theta

    def _weights(self, theta: torch.Tensor) -> torch.Tensor:
        """[rows, N] pooling weights from the parameters [rows, H, W]."""
        flat = theta.float().flatten(1)
        return torch.softmax(flat, dim=1) if self.weighting == "softmax" else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return (x.float().flatten(2) * self._weights(self._params_for(x))).sum(dim=2)

    @torch.no_grad()
    def spatial_weights(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The pooling weights, [H, W] (shared) or [C, H, W] (per channel); x only to size/adapt."""
        theta = self._params_for(x) if x is not None else self.logits
        if theta.numel() == 0:
            raise ValueError("flex has not seen an input yet: pass x or build it with size=(H, W)")
        weights = self._weights(theta).view_as(theta)
        return weights if self.per_channel else weights[0]

    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``): the mean map and three channels', or the shared map."""
        w = self.spatial_weights(x).float()
        return mean_and_first(w, "channels") if w.dim() == 3 else [WeightMap("shared by all channels", w)]

    def weight_penalty(self) -> torch.Tensor:
        """The paper's Eq. 2, R = sum_k (sum_ij w_ijk - 1)^2, on the raw weights.

        Only the raw variant has it: softmax weights sum to 1 per channel, so R would be 0 for
        every parameter value and a "regularised" softmax run would silently be an unregularised one.
        """
        if self.weighting != "raw":
            raise ValueError(
                "flex R(FlexPool) (the paper's Eq. 2) is identically 0 for softmax weights; "
                "build the pool with weighting='raw' (--pool-arg weighting=raw) to regularise it"
            )
        return (self.logits.float().flatten(1).sum(dim=1) - 1.0).pow(2).sum()

    @property
    def has_weight_penalty(self) -> bool:
        return self.weighting == "raw"

    def extra_repr(self) -> str:
        return (
            f"weighting={self.weighting}, per_channel={self.per_channel}, params={tuple(self.logits.shape)}, "
            f"adapt={self.adapt}"
        )
