"""Published baselines shown beside our numbers as a reference block (never mixed into our cells).

Source: the "cv-pooling-aggregation benchmark table" — best-epoch test accuracy (%) under the
standard protocol (see ``poolbench.train.protocol``). One place, so a typo is fixed once.
"""
from __future__ import annotations

from typing import Dict, Optional

SOURCE = "cv-pooling-aggregation benchmark table"
METRIC = "best-epoch test accuracy (%), standard protocol"

# The benchmark's columns as it labels them, in its order.
BENCHMARK_COLUMNS = ("resnet56-cifar100", "vgg16bn-cifar100", "mobilenetv2-fmnist")

# {pool: {column: best test accuracy in %}}, exactly as published.
PUBLISHED: Dict[str, Dict[str, float]] = {
    "avg_max": {"resnet56-cifar100": 71.06, "vgg16bn-cifar100": 72.55, "mobilenetv2-fmnist": 94.52},
    "gem": {"resnet56-cifar100": 72.39, "vgg16bn-cifar100": 74.02, "mobilenetv2-fmnist": 94.81},
    "global_max": {"resnet56-cifar100": 69.96, "vgg16bn-cifar100": 74.43, "mobilenetv2-fmnist": 94.27},
}

# The benchmark's names -> ours (registry names of poolbench.pools, .models and .data; a column of
# our table is f"{model}-{dataset}"): its avg_max is our plain-sum ``avgmax``, its global_max our
# ``max``; its vgg16bn is our vgg16_bn, its fmnist our fashion_mnist.
OUR_NAME: Dict[str, str] = {"avg_max": "avgmax", "gem": "gem", "global_max": "max"}
OUR_COLUMN: Dict[str, str] = {"resnet56-cifar100": "resnet56-cifar100",
                              "vgg16bn-cifar100": "vgg16_bn-cifar100",
                              "mobilenetv2-fmnist": "mobilenetv2-fashion_mnist"}
#: The benchmark's columns under our names, in its order (our tables put these first).
COLUMNS = tuple(OUR_COLUMN[c] for c in BENCHMARK_COLUMNS)


def row_label(pool: str) -> str:
    """'avg_max (ours: avgmax)' — so a reader finds the matching row of our table."""
    ours = OUR_NAME.get(pool, pool)
    return pool if ours == pool else f"{pool} (ours: {ours})"


def published_for(our_pool: str, our_column: str) -> Optional[float]:
    """The published number for one of our pool labels in one of our columns, or None."""
    theirs = {v: k for k, v in OUR_NAME.items()}.get(our_pool)
    column = {v: k for k, v in OUR_COLUMN.items()}.get(our_column)
    return PUBLISHED[theirs][column] if theirs and column else None


def column_note() -> str:
    """Which of the benchmark's column labels became which of ours (only those that differ)."""
    return ", ".join(f"{theirs} = our {ours}" for theirs, ours in OUR_COLUMN.items() if theirs != ours)
