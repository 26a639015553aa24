"""The contract check a run passes before it trains: the pool it will use, at the model's width.

A pool that breaks the contract (NaN on a 1x1 map, an output wider than it says) would otherwise
train for an epoch and end as "diverged", or stop in a shape error deep in the classifier. The check
is ``pools.check.check_pool`` on the run's pool and pool arguments, at the channel count of the
run's model, on every map size of the contract (or only the one a fitted pool accepts), without
the slow, non-fatal compile and ONNX rows.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from ..pools.check import CheckReport, check_pool
from .config import RunConfig
from .label import pool_label


@cache
def model_width(model: str) -> int:
    """Channels of the model's final feature map (what the pool sees)."""
    from ..models import create_model
    from ..models.head import PooledClassifier

    return int(cast(PooledClassifier, create_model(model, num_classes=10)).num_features)  # every zoo model is one


def pool_target(config: RunConfig) -> Any:
    if config.pool_file:
        from ..pools.loader import load_pool_file

        return load_pool_file(config.pool_file)
    return config.pool


def contract_check(config: RunConfig) -> CheckReport:
    """The contract for ``config``'s pool at its model's width; the report's target names the pool."""
    report = check_pool(
        pool_target(config),
        channels=(model_width(config.model),),
        compile=False,
        onnx=False,
        pool_args=dict(config.pool_args),
    )
    report.target = f"{pool_label(config.to_dict())} at C={model_width(config.model)}"
    return report
