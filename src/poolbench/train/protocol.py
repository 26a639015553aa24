"""The benchmark's fixed training protocol, in one frozen, versioned place.

"cv-pooling-aggregation": SGD (lr 0.1, momentum 0.9, weight decay 5e-4 on every parameter),
batch 128, cosine annealing over 200 epochs, cross-entropy, RandomCrop(32, padding 4) + flip,
test evaluation after every epoch; the reported metric is the best test accuracy.

Anything that differs from ``STANDARD`` makes a run *non-standard*, and every report says so.
Bump ``PROTOCOL_VERSION`` whenever the mathematics of training changes: it is part of run ids.

The optimiser, schedule, augmentation and input-normalisation fields exist for the seed papers'
own protocols (``poolbench.train.presets``, e.g. Birodkar et al. 2019's step decays and Adam). At
their defaults they are left out of ``to_dict`` so the benchmark's run ids are what they always were.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = "1"
# The benchmark's seeds: every published baseline ran at these three (``results.published.SEEDS``).
# ``poolbench run`` and ``poolbench sweep`` use them unless --seeds says otherwise. A seed is part
# of a run's identity, not of the protocol: other seeds are standard runs too.
BENCHMARK_SEEDS = (42, 123, 456)


@dataclass(frozen=True)
class Protocol:
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4  # applied to all parameters, BN and biases included (as the benchmark)
    # None = the whole training set; an int trains/tests on a fixed, seed-independent subset
    # (CPU short protocols). Either makes the run non-standard.
    train_subset: Any = None
    test_subset: Any = None
    version: str = PROTOCOL_VERSION
    # --- beyond the benchmark: only the named presets change these (left out of ids at defaults)
    optimizer: str = "sgd"  # "sgd" (momentum, weight_decay) or "adam" (torch defaults betas/eps; weight_decay)
    schedule: str = "cosine"  # "cosine", "step" (lr x 0.1 at each milestone epoch) or "constant"
    milestones: tuple[int, ...] = ()
    augment: str = "crop_flip"  # "crop_flip" (pad-4 crop + flip) or "none"
    input_norm: str = "dataset"  # "dataset" (per-channel train mean/std) or "image" (each image on its own)
    preset: str | None = None  # the name of the preset these values came from (labels only)

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("augment", AUGMENTS),
            ("input_norm", INPUT_NORMS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"protocol {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    def check(self) -> None:
        """ValueError for values no run can train with (a run of 0 epochs would be "finished" with no
        accuracy, and done forever). A NaN or huge lr is left to train: its run ends as diverged."""
        for name, flag in (("epochs", "--epochs"), ("batch_size", "--batch-size")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(
                    f"{flag} {v}: must be a whole number >= 1 (the protocol's is {getattr(STANDARD, name)})"
                )

    def lr_at(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch``. Cosine: annealing stepped once per epoch (torch's
        CosineAnnealingLR, T_max=epochs, eta_min=0); step: lr / 10 per milestone passed (MultiStepLR,
        gamma 0.1: milestones 150, 250 give 0.1 for epochs 1-150, 0.01 for 151-250, 0.001 after)."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "step":
            return self.lr * 0.1 ** sum(epoch >= m for m in self.milestones)
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * epoch / self.epochs))

    @property
    def is_standard(self) -> bool:
        return self.deviations() == {}

    def deviations(self) -> dict[str, Any]:
        """Fields that differ from the standard protocol: {name: value}."""
        std = STANDARD
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "version" and getattr(self, f.name) != getattr(std, f.name)
        }

    def label(self) -> str:
        """'standard' or e.g. 'non-standard (epochs=30, train_subset=5000)'; a preset leads its label:
        'non-standard (preset=birodkar2019-cnn-cifar, epochs=350, ...)'."""
        dev = self.deviations()
        if not dev:
            return "standard"
        if "preset" in dev:
            dev = {"preset": dev.pop("preset"), **dev}
        return "non-standard (" + ", ".join(f"{k}={_show(v)}" for k, v in dev.items()) + ")"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name in _EXTENDED:  # absent at their defaults: the benchmark's run ids never change
            if d[name] == _DEFAULTS[name]:
                del d[name]
        if "milestones" in d:
            d["milestones"] = list(d["milestones"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _show(v: Any) -> str:
    return "/".join(map(str, v)) if isinstance(v, tuple) else str(v)


OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")
AUGMENTS = ("crop_flip", "none")
INPUT_NORMS = ("dataset", "image")
_EXTENDED = ("optimizer", "schedule", "milestones", "augment", "input_norm", "preset")
_DEFAULTS = {
    f.name: (f.default if f.default is not dataclasses.MISSING else None) for f in dataclasses.fields(Protocol)
}

STANDARD = Protocol()
