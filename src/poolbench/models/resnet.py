"""CIFAR ResNets: resnet20/32/44/56/110 (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016, section 4.2).

A 3x3 conv to 16 channels, then three stages of n basic blocks (widths 16, 32, 64; the first block
of stages 2 and 3 has stride 2), depth = 6n + 2. A 32x32 input ends as a 64 x 8 x 8 map.
Shortcuts are the paper's option A: identity, and where the shape changes a strided subsample plus
zero channels (no parameters), so the parameter counts are the paper's (0.27M for resnet20,
0.85M for resnet56). The first module of ``stages[L]`` (L = 1, 2) is the L-th stride-2
downsampling (the zoo's convention, see ``downsample_entry``). The option-A shortcut is
``PadShortcut``, which knows how to ``pack`` itself for K models whose channels sit side by side
(see ``poolbench.train.packing``).

Initialisation: the reference's (akamaster's ``_weights_init``, kept by the FlexPooling authors'
ResNets): Kaiming normal fan_in on every convolution and on the classifier, PyTorch's defaults
elsewhere (``init="kaiming_fan_in"``, see ``head.INITS``). ``init="torchvision"`` rebuilds runs
made before the ResNets followed their reference (fan_out convolutions, a normal(0, 0.01) head).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .head import PooledClassifier, init_scheme


class PadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel, add ``pad_channels`` zero channels.

    The zeros are split before/after the channels (as the common reference implementation,
    akamaster/pytorch_resnet_cifar10, does). ``models`` > 1 is the packed form: the input holds
    ``models`` networks' channels concatenated along dim 1, and each network is padded on its own.
    """

    def __init__(self, stride: int, pad_channels: int, models: int = 1):
        super().__init__()
        self.stride, self.pad_channels, self.models = stride, pad_channels, models

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        before = self.pad_channels // 2
        pad = (0, 0, 0, 0, before, self.pad_channels - before)  # (W, H, C) for [.., C, H, W]
        if self.models == 1:
            return F.pad(x, pad)
        b, kc, h, w = x.shape
        x = F.pad(x.reshape(b, self.models, kc // self.models, h, w), pad)
        return x.reshape(b, -1, h, w)

    def pack(self, k: int | list[nn.Module]) -> PadShortcut:
        """The equivalent module for ``k`` models (an int, or the list of the k modules to fuse)."""
        k = k if isinstance(k, int) else len(k)
        return PadShortcut(self.stride, self.pad_channels, models=self.models * k)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad_channels={self.pad_channels}, models={self.models}"


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=True)
        changes = stride != 1 or in_ch != out_ch
        self.shortcut = PadShortcut(stride, out_ch - in_ch) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(PooledClassifier):
    downsample_entry = staticmethod(BasicBlock)  # (in_ch, out_ch, stride): what stages[L] starts with

    def __init__(
        self,
        depth: int,
        num_classes: int,
        in_chans: int = 3,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
        init: str = "kaiming_fan_in",
    ):
        super().__init__()
        self.init_scheme = init
        scheme = init_scheme(init)
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.stage_channels = [16, 32, 64]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        stages, in_ch = [], 16
        for i, ch in enumerate(self.stage_channels):
            blocks = [BasicBlock(in_ch, ch, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(ch, ch) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = ch
        self.stages = nn.ModuleList(stages)
        scheme.trunk(self)
        self._build_head(num_classes, pool, pool_args, drop_rate)


@register_model("resnet20")
def resnet20(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarResNet:
    return CifarResNet(20, num_classes, in_chans, pool, pool_args, **kw)


@register_model("resnet32")
def resnet32(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarResNet:
    return CifarResNet(32, num_classes, in_chans, pool, pool_args, **kw)


@register_model("resnet44")
def resnet44(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarResNet:
    return CifarResNet(44, num_classes, in_chans, pool, pool_args, **kw)


@register_model("resnet56")
def resnet56(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarResNet:
    return CifarResNet(56, num_classes, in_chans, pool, pool_args, **kw)


@register_model("resnet110")
def resnet110(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarResNet:
    return CifarResNet(110, num_classes, in_chans, pool, pool_args, **kw)
