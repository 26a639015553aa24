"""DataSelection: which images a run trains, validates and tests on, as a small frozen value.

The data functions (``train/data.py``: loading, the fixed subsets, the fingerprint) take this and
nothing else, so they never see, and never import, the run's whole configuration
(``RunConfig.data_selection()`` builds one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataSelection:
    """The dataset and where it is read from, then the cuts: the validation split (the first
    ``val_split`` shuffled training images, seed-independent), the fixed subsets of the protocol
    and a cross-validation fold (``holdout``: ``{"fraction": 0.2, "fold": 0..4}``)."""

    dataset: str
    data_path: str | None = None
    data_dir: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    val_split: int = 0
    holdout: dict[str, Any] | None = None
