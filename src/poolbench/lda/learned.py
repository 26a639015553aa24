"""The pooling map of Birodkar et al. 2019 learned by SGD instead of in closed form (the paper's
Sec. 3.6 "Learning Pooling by SGD" and Table 4: "we learned 2 distinct pooling maps which has the
effect of doubling the number of input channels while down-sampling").

``SGDDownsample`` has the closed-form operator's shape, p [K, M, N] shared by the channels, output
sum_n p_kmn x_n(c), but p is a trained parameter with no regulariser and no separability criterion
("un-regularized pooling map"). The paper does not say how it initialised p; we start every copy at
the 2 x 2 average of its block (exactly average pooling), so training starts from the common
operator and whatever it learns is SGD's. It replaces a stride-2 downsampling by the same surgery
as the closed form (``with_sgd_downsampling``; the surgery ``sgd_downsample`` with ``layer=L``,
``train/surgery.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..build_error import BuildError
from ..pools.base import WeightMap
from .downsample import downsampling_model, entry_stage, output_weight_maps


def block_average(in_size: Sequence[int], out_size: Sequence[int]) -> torch.Tensor:
    """[M, N]: output m averages its s x s block (s = H / Ho)."""
    (h, w), (ho, wo) = in_size, out_size
    sh, sw = h // ho, w // wo
    p = torch.zeros(ho, wo, h, w)
    for i in range(ho):
        for j in range(wo):
            p[i, j, i * sh : (i + 1) * sh, j * sw : (j + 1) * sw] = 1.0 / (sh * sw)
    return p.reshape(ho * wo, h * w)


class SGDDownsample(nn.Module):
    """[B, C, H, W] -> [B, K*C, Ho, Wo], p [K, Ho*Wo, H*W] a parameter (channel order as LDADownsample)."""

    def __init__(self, in_size: Sequence[int], out_size: Sequence[int], copies: int = 2):
        super().__init__()
        self.in_size, self.out_size = tuple(map(int, in_size)), tuple(map(int, out_size))
        self.p = nn.Parameter(block_average(self.in_size, self.out_size)[None].repeat(copies, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if (h, w) != self.in_size:
            raise ValueError(f"SGD-learned pooling was built for {self.in_size[0]}x{self.in_size[1]} maps, got {h}x{w}")
        out = torch.einsum("kmn,bcn->bkcm", self.p, x.flatten(2))
        return out.reshape(b, -1, *self.out_size)

    @torch.no_grad()
    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``), drawn as the closed form's (``output_weight_maps``)."""
        return output_weight_maps(self.p.detach().reshape(*self.p.shape[:2], *self.in_size), self.out_size)


def with_sgd_downsampling(model: nn.Module, layer: int, image_size: int = 32) -> nn.Module:
    """Replace downsampling ``layer`` by ``SGDDownsample`` + the entry module at stride 1 (in place);
    ``BuildError`` naming ``layer`` for one this model cannot replace."""
    try:
        layer = int(layer)
    except (TypeError, ValueError):
        raise BuildError("layer", layer, "not a layer number", "give one stride-2 downsampling, e.g. 2") from None
    staged = downsampling_model(model, layer)
    c_in, c_out = staged.stage_channels[layer - 1], staged.stage_channels[layer]
    h = image_size // 2 ** (layer - 1)  # every zoo model keeps 32x32 through stages[0]
    pool = SGDDownsample((h, h), (h // 2, h // 2), copies=c_out // c_in)
    entry_stage(staged, layer)[0] = nn.Sequential(pool, staged.entry_block(c_out, c_out, 1))
    return model
