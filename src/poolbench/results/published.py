"""Published baselines shown beside our numbers as a reference block (never mixed into our cells).

Source: the "cv-pooling-aggregation benchmark table" — best-epoch test accuracy (%) under the
standard protocol (see ``poolbench.train.protocol``). One place, so a typo is fixed once.
"""
from __future__ import annotations

from typing import Dict, Optional

SOURCE = "cv-pooling-aggregation benchmark table"
METRIC = "best-epoch test accuracy (%), standard protocol"

COLUMNS = ("resnet56-cifar100", "vgg16bn-cifar100", "mobilenetv2-fmnist")

# {pool: {column: best test accuracy in %}}
PUBLISHED: Dict[str, Dict[str, float]] = {
    "avg_max": {"resnet56-cifar100": 71.06, "vgg16bn-cifar100": 72.55, "mobilenetv2-fmnist": 94.52},
    "gem": {"resnet56-cifar100": 72.39, "vgg16bn-cifar100": 74.02, "mobilenetv2-fmnist": 94.81},
    "global_max": {"resnet56-cifar100": 69.96, "vgg16bn-cifar100": 74.43, "mobilenetv2-fmnist": 94.27},
}

# The benchmark's pool names -> ours (registry names, see poolbench.pools): its avg_max is our
# plain-sum ``avgmax``, its global_max our ``max``.
OUR_NAME: Dict[str, str] = {"avg_max": "avgmax", "gem": "gem", "global_max": "max"}


def row_label(pool: str) -> str:
    """'avg_max (ours: avgmax)' — so a reader finds the matching row of our table."""
    ours = OUR_NAME.get(pool, pool)
    return pool if ours == pool else f"{pool} (ours: {ours})"


def published_for(our_pool: str, column: str) -> Optional[float]:
    """The published number for one of our pool labels in a column, or None."""
    for theirs, ours in OUR_NAME.items():
        if ours == our_pool:
            return PUBLISHED[theirs].get(column)
    return None
