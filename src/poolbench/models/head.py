"""The shared classifier head and the base class every poolbench model derives from.

The head is ``pool -> flatten -> dropout -> Linear(pool.feat_mult * C, num_classes)``, the split
timm uses (``forward_features`` / ``forward_head``); the pool is the only thing a benchmark run
changes, so it is built here, once, for every model.

Initialisation (``init_trunk`` and ``ClassifierHead``), the same for all models:
  * convolutions: Kaiming normal, ``fan_out``, ReLU gain (He et al. 2015), as torchvision's
    ResNet/VGG/MobileNetV2 do; conv biases zero;
  * BatchNorm: weight 1, bias 0;
  * the Linear classifier: normal(0, 0.01), bias 0 (torchvision's VGG/MobileNetV2 choice). We use it
    for every model, not PyTorch's default uniform, because pools differ in output scale and width
    (max vs average, ``feat_mult`` > 1): a small head keeps the initial logits near zero whatever the
    pool, so pools start training from the same place.
The pool's own parameters are never touched: each pool initialises itself.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..pools import build_pool


def init_trunk(module: nn.Module) -> None:
    """Initialise every Conv2d/BatchNorm2d inside ``module`` (call it on the trunk, not the pool)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ClassifierHead(nn.Module):
    """Global pool over a [B, C, H, W] map, then one Linear over ``pool.feat_mult * C`` features."""

    def __init__(
        self, channels: int, num_classes: int, pool: Any = "avg", pool_args: dict | None = None, drop_rate: float = 0.0
    ):
        super().__init__()
        self.pool = build_pool(pool, channels=channels, **(pool_args or {}))
        # A plain nn.Module pool (e.g. nn.AdaptiveMaxPool2d) has no feat_mult: it keeps C features.
        self.feat_mult = int(getattr(self.pool, "feat_mult", 1))
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.feat_mult * channels, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        # flatten(1), never view(B, C): the packed (K-model) network has K*C channels here.
        return self.fc(self.drop(self.pool(feats).flatten(1)))


class PooledClassifier(nn.Module):
    """Base for the models: a conv trunk (``forward_stages``) and a ``ClassifierHead``.

    Subclasses build ``self.stages`` (an ``nn.ModuleList``; stage i ends where the resolution drops)
    and may build ``self.stem`` (run before the first stage), then call ``_build_head``.
    ``model.pool`` and ``model.classifier`` are the head's modules; assigning to them replaces the
    head's modules (so a packed or swapped pool is really used and appears once in the state dict).
    """

    stem: nn.Module
    stages: nn.ModuleList
    stage_channels: list[int]
    # Models whose stages[L][0] (L >= 1) is a stride-2 downsampling name the factory of that module,
    # (in_ch, out_ch, stride) -> nn.Module, so surgery (``poolbench.lda``) can rebuild it unstrided.
    downsample_entry: Any | None = None

    def entry_block(self, in_ch: int, out_ch: int, stride: int) -> nn.Module:
        """A fresh, initialised stage-entry module (``downsample_entry``)."""
        if self.downsample_entry is None:
            raise ValueError(f"{type(self).__name__} has no replaceable stride-2 downsamplings")
        block = self.downsample_entry(in_ch, out_ch, stride)
        init_trunk(block)
        return block

    def _build_head(self, num_classes: int, pool: Any, pool_args: dict | None, drop_rate: float) -> None:
        self.num_features = self.stage_channels[-1]
        self.num_classes = num_classes
        self.head = ClassifierHead(self.num_features, num_classes, pool, pool_args, drop_rate)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @property
    def pool(self) -> nn.Module:
        return self.head.pool

    @property
    def classifier(self) -> nn.Linear:
        return self.head.fc

    def __setattr__(self, name: str, value: Any) -> None:
        # nn.Module.__setattr__ would register a second, unused submodule under these names.
        if name in ("pool", "classifier") and "head" in self._modules:
            setattr(self.head, "pool" if name == "pool" else "fc", value)
        else:
            super().__setattr__(name, value)
