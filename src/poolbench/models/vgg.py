"""CIFAR VGG-16 with BatchNorm (Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", ICLR 2015, configuration D; BatchNorm after every conv as in
Ioffe & Szegedy, "Batch Normalization", ICML 2015).

Thirteen 3x3 convs (with bias, as torchvision's ``vgg16_bn``) in five blocks, each ending in a 2x2
max-pool, so a 32x32 input ends as a 512 x 1 x 1 map. The ImageNet model's three fully connected
layers are replaced by the single Linear of the shared head (the usual CIFAR adaptation, e.g.
kuangliu/pytorch-cifar). The five blocks are the stages.

``vgg16_bn_s2`` is poolbench's spatial variant (the ``spatial`` suite): the same convs without the
last block's max-pool, so the pool sees a 512 x 2 x 2 map. On the 1x1 map of ``vgg16_bn`` the
global pool has one value per channel to aggregate, and avg, max and avg+max are the same function;
on 2x2 they differ. The max-pool has no parameters, so the count is the same.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from . import register_model
from .head import PooledClassifier, init_trunk

# Configuration D; "M" is a 2x2 max-pool and closes a stage.
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# The spatial variant: configuration D without its last max-pool (a 2x2 map at a 32x32 input).
VGG16_S2_CFG = VGG16_CFG[:-1]


class CifarVGG(PooledClassifier):
    def __init__(
        self,
        cfg: list,
        num_classes: int,
        in_chans: int = 3,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.stem = nn.Identity()
        stages: list[nn.Module] = []
        layers: list[nn.Module] = []
        in_ch, self.stage_channels = in_chans, []
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                stages.append(nn.Sequential(*layers))
                self.stage_channels.append(in_ch)
                layers = []
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                in_ch = v
        if layers:  # a configuration that does not end in "M": its last block is a stage too
            stages.append(nn.Sequential(*layers))
            self.stage_channels.append(in_ch)
        self.stages = nn.ModuleList(stages)
        init_trunk(self)
        self._build_head(num_classes, pool, pool_args, drop_rate)


@register_model("vgg16_bn")
def vgg16_bn(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarVGG:
    return CifarVGG(VGG16_CFG, num_classes, in_chans, pool, pool_args, **kw)


@register_model("vgg16_bn_s2")
def vgg16_bn_s2(
    num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any
) -> CifarVGG:
    return CifarVGG(VGG16_S2_CFG, num_classes, in_chans, pool, pool_args, **kw)
