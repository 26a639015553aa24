"""``cnn4``: the 4-layer ConvNet of Birodkar, Mobahi, Krishnan & Bengio 2019 (Sec. 6.3, "CNN").

"A 4-layer ConvNet with convolution kernels of size 3x3. The first convolution uses 64 channels and
is followed by a ReLU non-linearity. The 3 convolution layers which follow are strided convolutions
with a stride of 2 (to reduce spatial dimensions) and double the number of channels from the
previous layer, each of them followed by batch-norm and ReLU. Towards the end, the feature map is
aggregated via global average pooling and fed into a linear layer which outputs logits."

So: conv3x3(in, 64) + ReLU (with a bias: no BN follows it), then three conv3x3 stride 2
(64 -> 128 -> 256 -> 512, no bias: BN follows) + BN + ReLU; a 32x32 input ends as 512 x 4 x 4, and
the head is the zoo's (global pool, Linear). 10 classes, RGB: 1,557,002 parameters.

Stages follow the zoo's convention for replaceable downsamplings: ``stages[0]`` keeps the resolution
and the first module of ``stages[L]`` (L = 1, 2, 3) is the L-th stride-2 downsampling;
``downsample_entry(in_ch, out_ch, stride)`` builds that kind of module (used by surgery elsewhere).
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from . import register_model
from .head import PooledClassifier, init_trunk


def conv_bn_relu(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
    )


class CNN4(PooledClassifier):
    downsample_entry = staticmethod(conv_bn_relu)  # (in_ch, out_ch, stride): what stages[L] starts with

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
        width: int = 64,
    ):
        super().__init__()
        self.stage_channels = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Identity()
        first = nn.Sequential(nn.Conv2d(in_chans, width, 3, 1, 1, bias=True), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList(
            [first] + [nn.Sequential(conv_bn_relu(c, 2 * c, 2)) for c in self.stage_channels[:-1]]
        )
        init_trunk(self)
        self._build_head(num_classes, pool, pool_args, drop_rate)


@register_model("cnn4")
def cnn4(num_classes: int, in_chans: int = 3, pool: Any = "avg", pool_args: dict | None = None, **kw: Any) -> CNN4:
    return CNN4(num_classes, in_chans, pool, pool_args, **kw)
