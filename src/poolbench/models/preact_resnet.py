"""``preact_resnet18``: the 18-layer pre-activation ResNet (He, Zhang, Ren & Sun, "Identity Mappings
in Deep Residual Networks", ECCV 2016) in the CIFAR layout of kuangliu/pytorch-cifar, the
implementation Birodkar et al. 2019 took their ResNet from (Sec. 6.3).

A 3x3 conv to 64 channels (no BN/ReLU after it: every block pre-activates its input), then four
stages of two pre-activation blocks (64, 128, 256, 512 channels; the first block of stages 2-4 has
stride 2). A block is BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus the shortcut: identity, or where the shape
changes a 1x1 strided conv applied to the *pre-activated* input. As in that implementation there is
no BN-ReLU after the last block: the 512 x 4 x 4 map goes straight to the head (global pool, Linear).
10 classes, RGB: 11,171,146 parameters.

Stages follow the zoo's convention for replaceable downsamplings: the first module of ``stages[L]``
(L = 1, 2, 3) is the L-th stride-2 downsampling; ``downsample_entry(in_ch, out_ch, stride)`` builds it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from . import register_model
from .head import PooledClassifier, init_trunk


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut (1x1 strided conv of the pre-activated input, or identity)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        changes = stride != 1 or in_ch != out_ch
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False) if changes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(x))
        short = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv2(self.relu2(self.bn2(self.conv1(out))))
        return out + short


class PreActResNet(PooledClassifier):
    downsample_entry = staticmethod(PreActBlock)  # (in_ch, out_ch, stride): what stages[L] starts with

    def __init__(
        self,
        blocks_per_stage,
        num_classes: int,
        in_chans: int = 3,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.stage_channels = [64, 128, 256, 512]
        self.stem = nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False)
        stages, in_ch = [], 64
        for i, (ch, n) in enumerate(zip(self.stage_channels, blocks_per_stage, strict=True)):
            blocks = [PreActBlock(in_ch, ch, 1 if i == 0 else 2)] + [PreActBlock(ch, ch) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = ch
        self.stages = nn.ModuleList(stages)
        init_trunk(self)
        self._build_head(num_classes, pool, pool_args, drop_rate)


@register_model("preact_resnet18")
def preact_resnet18(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> PreActResNet:
    return PreActResNet([2, 2, 2, 2], num_classes, in_chans, pool, pool_args, **kw)
