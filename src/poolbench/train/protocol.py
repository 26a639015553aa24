"""The benchmark's fixed training protocol, in one frozen, versioned place.

"cv-pooling-aggregation": SGD (lr 0.1, momentum 0.9, weight decay 5e-4 on every parameter),
batch 128, cosine annealing over 200 epochs, cross-entropy, RandomCrop(32, padding 4) + flip,
test evaluation after every epoch; the reported metric is the best test accuracy.

Anything that differs from ``STANDARD`` makes a run *non-standard*, and every report says so.
Bump ``PROTOCOL_VERSION`` whenever the mathematics of training changes: it is part of run ids.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict

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

    def lr_at(self, epoch: int) -> float:
        """Cosine annealing stepped once per epoch (torch's CosineAnnealingLR, T_max=epochs, eta_min=0)."""
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * epoch / self.epochs))

    @property
    def is_standard(self) -> bool:
        return self.deviations() == {}

    def deviations(self) -> Dict[str, Any]:
        """Fields that differ from the standard protocol: {name: value}."""
        std = STANDARD
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "version" and getattr(self, f.name) != getattr(std, f.name)
        }

    def label(self) -> str:
        """'standard' or e.g. 'non-standard (epochs=30, train_subset=5000)'."""
        dev = self.deviations()
        if not dev:
            return "standard"
        return "non-standard (" + ", ".join(f"{k}={v}" for k, v in dev.items()) + ")"

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Protocol":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


STANDARD = Protocol()
