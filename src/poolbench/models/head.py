"""The shared classifier head and the base class every poolbench model derives from.

The head is ``pool -> flatten -> dropout -> Linear(pooled_width(pool, C), num_classes)``, the split
timm uses (``forward_features`` / ``forward_head``); the pool is the only thing a benchmark run
changes, so it is built here, once, for every model.

Initialisation: a model names one of two schemes (``INITS``; ``PooledClassifier.init_scheme``),
applied to its trunk and to every classifier its heads build:

``"torchvision"`` (``init_trunk``, the default of every model but the CIFAR ResNets):
  * convolutions: Kaiming normal, ``fan_out``, ReLU gain (He et al. 2015), as torchvision's
    ResNet/VGG/MobileNetV2 do; conv biases zero;
  * BatchNorm: weight 1, bias 0;
  * the Linear classifier: normal(0, 0.01), bias 0 (torchvision's VGG/MobileNetV2 choice): a small
    head keeps the initial logits near zero whatever the pool's output scale and width.
``"kaiming_fan_in"`` (``init_kaiming_fan_in``, the CIFAR ResNets' reference,
akamaster/pytorch_resnet_cifar10 ``_weights_init``, which the FlexPooling authors' ResNets reuse):
  * every Conv2d and Linear weight: ``kaiming_normal_`` at its defaults, N(0, 2 / fan_in)
    (fan_in = in_channels x kernel area, or in_features; gain sqrt(2));
  * everything else as PyTorch leaves it: the Linear bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    BatchNorm weight 1, bias 0.
The pool's own parameters are never touched: each pool initialises itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from ..pools import build_pool, pooled_width


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


def init_small_classifier(fc: nn.Linear) -> None:
    """normal(0, 0.01) weights, zero bias."""
    nn.init.normal_(fc.weight, 0.0, 0.01)
    nn.init.zeros_(fc.bias)


def init_kaiming_fan_in(module: nn.Module) -> None:
    """``kaiming_normal_`` at its defaults (fan_in, gain sqrt(2)) on every Conv2d and Linear weight
    inside ``module``; biases and BatchNorm keep PyTorch's initialisation (call it on the trunk or a
    classifier, not the pool)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)


@dataclass(frozen=True)
class InitScheme:
    """How a model initialises its trunk (convolutions, BatchNorm) and its Linear classifiers."""

    trunk: Callable[[nn.Module], None]
    classifier: Callable[[nn.Linear], None]


INITS: dict[str, InitScheme] = {
    "torchvision": InitScheme(trunk=init_trunk, classifier=init_small_classifier),
    "kaiming_fan_in": InitScheme(trunk=init_kaiming_fan_in, classifier=init_kaiming_fan_in),
}


def init_scheme(name: str) -> InitScheme:
    if name not in INITS:
        raise ValueError(f"unknown initialisation {name!r}; valid: {', '.join(INITS)}")
    return INITS[name]


class ClassifierHead(nn.Module):
    """Global pool over a [B, C, H, W] map, then one Linear over the pool's width
    (``pooled_features``: ``pooled_width(pool, C)``, asked of the pool, never stored beside it)."""

    def __init__(
        self,
        channels: int,
        num_classes: int,
        pool: Any = "avg",
        pool_args: dict | None = None,
        drop_rate: float = 0.0,
        init: str = "torchvision",
    ):
        super().__init__()
        self.channels = channels
        self.init_classifier = init_scheme(init).classifier
        self._set_pool(pool, pool_args)
        self.drop = nn.Dropout(drop_rate)
        self._set_classifier(num_classes)

    def _set_pool(self, pool: Any, pool_args: dict | None) -> None:
        self.pool = build_pool(pool, channels=self.channels, **(pool_args or {}))

    @property
    def pooled_features(self) -> int:
        """The classifier's input width: the pool's ``out_features(C)`` / ``feat_mult() * C`` (C for
        a plain module such as ``nn.AdaptiveMaxPool2d(1)``)."""
        return pooled_width(self.pool, self.channels)

    def _set_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.pooled_features, num_classes)
        self.init_classifier(self.fc)

    def reset(self, num_classes: int | None = None, pool: Any = None, pool_args: dict | None = None) -> None:
        """A new pool when ``pool`` (a name, class or module) or ``pool_args`` is given (``pool_args``
        alone rebuilds the current pool's class with them), then always a freshly initialised
        classifier over the pool's ``pooled_features`` for ``num_classes`` (default:
        as many as now). The replaced modules are dropped, never kept beside the new ones."""
        if pool is not None or pool_args is not None:
            self._set_pool(type(self.pool) if pool is None else pool, pool_args)
        self._set_classifier(self.fc.out_features if num_classes is None else num_classes)

    def forward(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits; with ``pre_logits`` the pooled, flattened features before dropout and the classifier."""
        # flatten(1), never view(B, C): the packed (K-model) network has K*C channels here.
        pooled = self.pool(feats).flatten(1)
        return pooled if pre_logits else self.fc(self.drop(pooled))


class ReadOnlyViews(nn.Module):
    """A module whose read-only properties stay read-only, as on any Python object.

    ``nn.Module.__setattr__`` registers a module value under its name before a property is
    consulted, so ``model.pool = new`` on a read-only ``pool`` property would silently add a
    second, unused submodule (and state-dict entries) while ``model.pool`` kept reading the old
    one. Here that assignment raises instead, naming the method that does replace it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        view = getattr(type(self), name, None)
        if isinstance(view, property) and view.fset is None:
            raise AttributeError(
                f"{type(self).__name__}.{name} is read-only (a view of a submodule); change the module that "
                f"owns it (a model's head pool or classifier: model.reset_head(pool=..., num_classes=...))"
            )
        super().__setattr__(name, value)


class PooledClassifier(ReadOnlyViews):
    """Base for the models: a conv trunk (``forward_stages``) and a ``ClassifierHead``.

    Subclasses build ``self.stages`` (an ``nn.ModuleList``; stage i ends where the resolution drops)
    and may build ``self.stem`` (run before the first stage), then call ``_build_head``.
    The head follows timm's idiom: ``forward_head(feats, pre_logits=False)``, ``get_classifier()``,
    and ``reset_head(num_classes, pool, pool_args)`` to swap the pool and/or the classifier;
    ``model.pool`` and ``model.classifier`` read the head's modules (assigning them raises: ``ReadOnlyViews``).
    """

    stem: nn.Module
    stages: nn.ModuleList
    stage_channels: list[int]
    head: ClassifierHead
    num_features: int
    num_classes: int
    # A generic surgery hook, not a paper: a model whose stages[L][0] (L >= 1) is a stride-2
    # downsampling names the factory of that module, (in_ch, out_ch, stride) -> nn.Module, so that
    # surgery applied to a built model (e.g. ``poolbench.lda``) can rebuild it, unstrided.
    downsample_entry: Callable[[int, int, int], nn.Module] | None = None
    # the ``INITS`` scheme of the trunk and of every classifier the model's heads build
    init_scheme: str = "torchvision"

    def entry_block(self, in_ch: int, out_ch: int, stride: int) -> nn.Module:
        """A fresh, initialised stage-entry module (``downsample_entry``)."""
        if self.downsample_entry is None:
            raise ValueError(f"{type(self).__name__} has no replaceable stride-2 downsamplings")
        block = self.downsample_entry(in_ch, out_ch, stride)
        init_scheme(self.init_scheme).trunk(block)
        return block

    def _build_head(self, num_classes: int, pool: Any, pool_args: dict | None, drop_rate: float) -> None:
        self.num_features = self.stage_channels[-1]
        self.num_classes = num_classes
        self.head = ClassifierHead(self.num_features, num_classes, pool, pool_args, drop_rate, init=self.init_scheme)

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

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits from the trunk's map; ``pre_logits=True``: the pooled [B, pooled_features] features."""
        return self.head(feats, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        return self.head.fc

    def reset_head(self, num_classes: int | None = None, pool: Any = None, pool_args: dict | None = None) -> None:
        """Replace the head's pool (``pool`` / ``pool_args``) and/or classifier (see ``ClassifierHead.reset``)."""
        self.head.reset(num_classes, pool, pool_args)
        self.num_classes = self.head.fc.out_features

    @property
    def pool(self) -> nn.Module:
        return self.head.pool

    @property
    def classifier(self) -> nn.Linear:
        return self.head.fc
