"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018), with the paper's standard strides.

A stride-2 3x3 stem to 32 channels, the paper's table of inverted-residual blocks (t, c, n, s), and a
final 1x1 conv to 1280 channels. The total stride is 32, so a 32x32 input ends as a 1280 x 1 x 1 map
(the benchmark's "standard strides": no CIFAR stride reductions). Width multiplier 1.0, channel
counts as in the paper and torchvision. ``in_chans`` 1 (MNIST-like) or 3.

Stages end where the resolution drops: [stem + 16] 16x16, [24] 8x8, [32] 4x4, [64, 96] 2x2,
[160, 320, 1x1 conv] 1x1.

``mobilenetv2_s4`` is poolbench's spatial variant (the ``spatial`` suite) with CIFAR strides: the
stem and the first block of the 24-channel row take stride 1 instead of 2, the two changes
kuangliu/pytorch-cifar's CIFAR MobileNetV2 makes. The total stride drops from 32 to 8, so a 32x32
input ends as a 1280 x 4 x 4 map: the nearest a 32x32 input comes to the 7x7 map the network sees
at ImageNet's 224x224, where pooling has something to aggregate. The two earliest strides are the
ones changed because the small input loses most there (16x16 after the stem, 8x8 after the
24-channel row), while the later stages keep the paper's downsampling where the channels widen.
Unlike kuangliu's, the blocks stay the paper's (no 1x1-conv shortcut between rows of different
width), so the parameters are the same as ``mobilenetv2``'s. Stages: [stem, 16, 24] 32x32,
[32] 16x16, [64, 96] 8x8, [160, 320, 1x1 conv] 4x4.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from . import register_model
from .head import PooledClassifier, init_trunk

# (expansion t, output channels c, repeats n, first stride s): Table 2 of the paper.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
# CIFAR strides (the spatial variant): the 24-channel row's first stride 2 -> 1 (and the stem's, below).
CIFAR_INVERTED_RESIDUAL_SETTING = [(t, c, n, 1 if c == 24 else s) for t, c, n, s in INVERTED_RESIDUAL_SETTING]


def conv_bn_relu6(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection, residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int):
        super().__init__()
        hidden = in_ch * expand
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = [conv_bn_relu6(in_ch, hidden)] if expand != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),  # linear bottleneck: no activation
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(PooledClassifier):
    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
        last_channels: int = 1280,
        stem_stride: int = 2,
        setting: list[tuple[int, int, int, int]] = INVERTED_RESIDUAL_SETTING,
    ):
        super().__init__()
        self.stem = conv_bn_relu6(in_chans, 32, 3, stride=stem_stride)
        stages: list[list[nn.Module]] = []
        current: list[nn.Module] = []
        in_ch = 32
        self.stage_channels = []
        for t, c, n, s in setting:
            for i in range(n):
                stride = s if i == 0 else 1
                if stride > 1:  # the resolution drops: close the stage so far (it ends in_ch wide)
                    stages.append(current)
                    self.stage_channels.append(in_ch)
                    current = []
                current.append(InvertedResidual(in_ch, c, stride, t))
                in_ch = c
        current.append(conv_bn_relu6(in_ch, last_channels))
        stages.append(current)
        self.stage_channels.append(last_channels)
        self.stages = nn.ModuleList(nn.Sequential(*blocks) for blocks in stages)
        init_trunk(self)
        self._build_head(num_classes, pool, pool_args, drop_rate)


@register_model("mobilenetv2")
def mobilenetv2(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> MobileNetV2:
    return MobileNetV2(num_classes, in_chans, pool, pool_args, **kw)


@register_model("mobilenetv2_s4")
def mobilenetv2_s4(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> MobileNetV2:
    return MobileNetV2(
        num_classes, in_chans, pool, pool_args, stem_stride=1, setting=CIFAR_INVERTED_RESIDUAL_SETTING, **kw
    )
