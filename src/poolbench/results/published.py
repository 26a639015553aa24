"""Published baselines shown beside our numbers as a reference block (never mixed into our cells).

Source: the "cv-pooling-aggregation benchmark table" — best-epoch test accuracy (%) under the
standard protocol (see ``poolbench.train.protocol``). One place, so a typo is fixed once.
"""
from __future__ import annotations

from typing import Dict

SOURCE = "cv-pooling-aggregation benchmark table"
METRIC = "best-epoch test accuracy (%), standard protocol"

COLUMNS = ("resnet56-cifar100", "vgg16bn-cifar100", "mobilenetv2-fmnist")

# {pool: {column: best test accuracy in %}}
PUBLISHED: Dict[str, Dict[str, float]] = {
    "avg_max": {"resnet56-cifar100": 71.06, "vgg16bn-cifar100": 72.55, "mobilenetv2-fmnist": 94.52},
    "gem": {"resnet56-cifar100": 72.39, "vgg16bn-cifar100": 74.02, "mobilenetv2-fmnist": 94.81},
    "global_max": {"resnet56-cifar100": 69.96, "vgg16bn-cifar100": 74.43, "mobilenetv2-fmnist": 94.27},
}


def published(pool: str, column: str):
    """The published number for (pool, column), or None."""
    return PUBLISHED.get(pool, {}).get(column)
