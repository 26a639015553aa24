"""Closed-form LDA pooling in place of a stride-2 downsampling inside a CIFAR ResNet.

Birodkar, Mobahi, Krishnan & Bengio (arXiv:1906.03808) apply the closed-form pooling mainly inside
the network: an H x W map is pooled to Ho x Wo = H/2 x W/2 outputs (M = Ho * Wo > 1), each output m
with its own weights p_m over all N = H * W input positions (shared by every channel), fitted with
a localisation penalty around the centre of m's window (``fit.py``). Where the ResNet doubles its
channels at that downsampling, the top *two* eigenvectors of each output's problem give two pooled
copies of the C input channels, so the pooled map already has the 2C channels the next stage wants.

How it is wired (``poolbench.models.resnet``, ``model_args={"lda_layer": L, "lda_weights": FILE}``):
the first block of stage L + 1, normally BasicBlock(C, 2C, stride 2) with an option-A shortcut, is
replaced by ``LDADownsample`` (C -> 2C, parameter-free) followed by BasicBlock(2C, 2C, stride 1)
with an identity shortcut. ``--lda-layer 1`` is the 32x32 -> 16x16 transition, ``2`` the 16x16 ->
8x8 one; the third downsampling of these networks is the global pool itself (8x8 -> 1x1), which is
``--pool lda --pool-arg weights=FILE`` (``poolbench.pools.lda``). The network is then trained from
scratch with p fixed, as in the paper.

Where we deviate or had to choose (the paper's method section was not available to us):
* the per-output forward is the same as ``LDAPool``'s: sum_n p_mn x_n + (1 - sum_n p_mn) mu, with mu
  the map's mean (the fit standardises each map; this keeps the output on the map's scale);
* the replacement block's first conv takes 2C inputs instead of C (4.6k more weights at layer 1,
  18k at layer 2 in resnet20); every other layer is unchanged.

p is a non-persistent buffer: it is rebuilt from the weights file named in the run's config, so
the module holds no state of its own and packs (``pack``) like the option-A shortcut.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from ..pools.lda import load_lda_weights, save_lda_weights

KIND = "downsample"


def check_lda_layer(layer: int, weights: Optional[str], num_stages: int = 3) -> None:
    """Raise a ValueError that says what to do for a layer or file the ResNets cannot use."""
    if layer == num_stages:
        raise ValueError(f"lda_layer={layer} is the global pool of this network (its last downsampling): use "
                         f"--pool lda --pool-arg weights=FILE (fit it with poolbench fit-lda RUN --layer final)")
    if not 1 <= layer < num_stages:
        raise ValueError(f"lda_layer must be 1..{num_stages - 1} (the stride-2 stage transitions), got {layer}")
    if not weights:
        raise ValueError(f"lda_layer={layer} needs lda_weights=FILE (from poolbench fit-lda RUN --layer {layer})")


def save_downsample_weights(path: Union[str, Path], p, meta: dict) -> Path:
    """p [K, M, N]: K pooled copies (eigenvectors), M = Ho * Wo outputs, N = H * W inputs."""
    return save_lda_weights(path, p, dict(meta, kind=KIND))


class LDADownsample(nn.Module):
    """[B, C, H, W] -> [B, K*C, Ho, Wo] with fixed closed-form pooling weights p [K, Ho*Wo, H*W].

    Channel order: [copy 0: all C channels, copy 1: all C channels, ...]. ``models`` > 1 is the
    packed form (K models' channels side by side, each pooled with its own p).
    """

    def __init__(self, p: torch.Tensor, in_size: Sequence[int], out_size: Sequence[int], models: int = 1):
        super().__init__()
        p = torch.as_tensor(p, dtype=torch.float32)
        if p.dim() == 3:
            p = p[None].expand(models, *p.shape).contiguous()
        h, w, ho, wo = *map(int, in_size), *map(int, out_size)
        if p.dim() != 4 or p.shape[0] != models or p.shape[2:] != (ho * wo, h * w):
            raise ValueError(f"LDA downsample weights must be [K, {ho * wo}, {h * w}] for {h}x{w} -> {ho}x{wo}, "
                             f"got {list(p.shape)}")
        self.in_size, self.out_size, self.models = (h, w), (ho, wo), models
        self.register_buffer("p", p, persistent=False)  # [models, K, M, N]

    @classmethod
    def from_file(cls, path: Union[str, Path], in_channels: int, out_channels: int) -> "LDADownsample":
        p, meta = load_lda_weights(path)
        if meta.get("kind") != KIND:
            raise ValueError(f"{path} holds global-pool weights, not a downsampling (fit it with --layer 1 or 2)")
        if p.shape[0] * in_channels != out_channels:
            raise ValueError(f"{path} has {p.shape[0]} pooled copies of {in_channels} channels but the next stage "
                             f"needs {out_channels}: fit it with n_out={out_channels // in_channels}")
        return cls(p.reshape(p.shape[0], -1, p.shape[-1]), meta["size"], meta["out_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, mc, h, w = x.shape
        if (h, w) != self.in_size:
            raise ValueError(f"LDA downsample was fitted on {self.in_size[0]}x{self.in_size[1]} maps, got {h}x{w}")
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().reshape(b, self.models, mc // self.models, h * w)  # [B, models, C, N]
            mu = z.mean(dim=3)  # [B, models, C]
            out = torch.einsum("gkmn,bgcn->bgkcm", self.p, z)
            out = out + (1 - self.p.sum(-1))[None, :, :, None, :] * mu[:, :, None, :, None]
            return out.reshape(b, -1, *self.out_size)

    def pack(self, mods: Union[int, List["LDADownsample"]]) -> "LDADownsample":
        mods = [self] * mods if isinstance(mods, int) else list(mods)
        return LDADownsample(torch.cat([m.p for m in mods]), self.in_size, self.out_size, models=len(mods) * self.models)

    @torch.no_grad()
    def spatial_weights(self) -> torch.Tensor:
        """[K, M, H, W]: each output's weight map (the first packed model's)."""
        return self.p[0].reshape(self.p.shape[1], self.p.shape[2], *self.in_size)

    def extra_repr(self) -> str:
        (h, w), (ho, wo) = self.in_size, self.out_size
        return f"{h}x{w} -> {ho}x{wo}, copies={self.p.shape[1]}, models={self.models}"
