"""Named training protocols of the seed papers: non-standard for the pooling benchmark, always labelled.

The benchmark's own protocol (``protocol.STANDARD``) stays the default of every command; a preset is
chosen by name (``--preset NAME``) and its name leads the run's protocol label, so a table never
mixes a paper's protocol with the benchmark's silently.

Birodkar, Mobahi, Krishnan & Bengio 2019, "A Closed-Form Learned Pooling for Deep Classification
Networks" (Sec. 6.2-6.3):

* ResNet (pre-activation ResNet-18): SGD, momentum 0.9, lr 0.1, decayed x0.1 at fixed epochs.
  CIFAR: 350 epochs, decays at 150 and 250, pad-4 crop + flip, per-channel normalisation over the
  training set. SVHN: 150 epochs, decays at 50 and 100, each image normalised on its own, no
  augmentation. Weight decay 5e-4 and batch 128: the paper takes the ResNet's hyperparameters "from
  the implementation by (Liu, 2018)" (kuangliu/pytorch-cifar), whose values these are.
* CNN (the 4-layer ConvNet): Adam, fixed lr 0.001, same epochs, augmentation and normalisation as
  the dataset's ResNet preset. The paper gives no weight decay or batch size for it: we use none
  (Adam's default) and 128.

"Whenever reduced datasets are used, the number of steps in each epoch is scaled accordingly": an
epoch is one pass over the (reduced) training set, which is what the engine does anyway.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .protocol import Protocol

_RESNET: dict[str, Any] = dict(
    optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=128, schedule="step"
)
_CNN: dict[str, Any] = dict(optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128, schedule="constant")
_CIFAR: dict[str, Any] = dict(epochs=350, augment="crop_flip", input_norm="dataset")
_SVHN: dict[str, Any] = dict(epochs=150, augment="none", input_norm="image")

PRESETS: dict[str, Protocol] = {
    "birodkar2019-resnet-cifar": Protocol(**_RESNET, **_CIFAR, milestones=(150, 250)),
    "birodkar2019-resnet-svhn": Protocol(**_RESNET, **_SVHN, milestones=(50, 100)),
    "birodkar2019-cnn-cifar": Protocol(**_CNN, **_CIFAR),
    "birodkar2019-cnn-svhn": Protocol(**_CNN, **_SVHN),
}
PRESETS = {name: dataclasses.replace(p, preset=name) for name, p in PRESETS.items()}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def preset(name: str, **overrides) -> Protocol:
    """The named protocol, with ``overrides`` (e.g. epochs=10 for a short CPU check) on top; an
    override keeps the preset's name and shows in the label as a deviation from the benchmark."""
    if name not in PRESETS:
        raise ValueError(f"unknown protocol preset {name!r}; valid names: {', '.join(list_presets())}")
    return dataclasses.replace(PRESETS[name], **overrides)
