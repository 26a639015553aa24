"""The contract check a run passes before it trains: the pool it will use, on what this run meets.

A pool that breaks the contract (NaN on a 1x1 map, an output wider than it says) would otherwise
train for an epoch and end as "diverged", or stop in a shape error deep in the classifier. The check
is ``pools.check.check_pool`` on the run's pool and pool arguments, at the channel count of the
run's model, on the map sizes this run's pool sees (the model's final map at 32x32, and the
stages that feed SAC's auxiliary heads), with the bf16 autocast row only for a bf16 run, and
without the slow, non-fatal compile and ONNX rows. What the run cannot meet is not a reason to
refuse it: a pool that is NaN only on 1x1 maps trains on ResNet-20's 8x8. ``benchmark_hazards``
checks the benchmark's columns this run does not cover, for a one-line warning.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from ..pools.check import CheckReport, check_pool
from .config import RunConfig
from .label import pool_label

IMAGE_SIZE = 32  # every poolbench dataset reaches the model as 32x32 (28x28 ones are padded)


@cache
def model_width(model: str) -> int:
    """Channels of the model's final feature map (what the pool sees)."""
    from ..models import create_model
    from ..models.head import PooledClassifier

    return int(cast(PooledClassifier, create_model(model, num_classes=10)).num_features)  # every zoo model is one


@cache
def stage_map_sizes(model: str) -> tuple[tuple[int, int], ...]:
    """(H, W) of every stage's output for a 32x32 input, the last being the pool's map (meta device:
    shapes only)."""
    import torch

    from ..models import create_model
    from ..models.head import PooledClassifier

    with torch.device("meta"):
        built = cast(PooledClassifier, create_model(model, num_classes=10).eval())
        stages = built.forward_stages(torch.empty(2, 3, IMAGE_SIZE, IMAGE_SIZE))
    return tuple((int(s.shape[-2]), int(s.shape[-1])) for s in stages)


def run_map_sizes(config: RunConfig) -> tuple[tuple[int, int], ...]:
    """The map sizes the run's pool sees: the final map, and each SAC head's stage map (SAC builds
    its heads from the main pool's class; default stages: every stage but the last)."""
    sizes = stage_map_sizes(config.model)
    maps = [sizes[-1]]
    if config.sac is not None:
        stages = config.sac.get("stages") or range(1, len(sizes))
        maps += [sizes[s - 1] for s in stages if 0 < s <= len(sizes)]
    return tuple(dict.fromkeys(maps))


def pool_target(config: RunConfig) -> Any:
    if config.pool_file:
        from ..pools.loader import load_pool_file

        return load_pool_file(config.pool_file)
    return config.pool


def _maps_text(maps) -> str:
    return ", ".join(f"{h}x{w}" for h, w in maps) + f" map{'s' if len(maps) > 1 else ''}"


def contract_check(config: RunConfig) -> CheckReport:
    """The contract for ``config``'s pool on what this run meets: its model's width and map sizes,
    bf16 autocast only when the run uses it. The report's target names the pool and what was checked."""
    maps = run_map_sizes(config)
    report = check_pool(
        pool_target(config),
        channels=(model_width(config.model),),
        maps=maps,
        compile=False,
        onnx=False,
        pool_args=dict(config.pool_args),
    )
    if config.amp != "bf16":  # an fp32 run never autocasts: that row is not this run's hazard
        report.rows = [r for r in report.rows if r.name != "bf16 autocast"]
    dtype = "bf16 autocast" if config.amp == "bf16" else "fp32"
    report.target = (
        f"{pool_label(config.to_dict())} on {config.model} (C={model_width(config.model)}, {_maps_text(maps)}, {dtype})"
    )
    return report


def benchmark_hazards(config: RunConfig, covered_models: set[str]) -> list[tuple[str, str]]:
    """[(column, why)] for each of the benchmark's columns (``suites``) whose model is not in
    ``covered_models`` and on which ``config``'s pool fails the contract (fp32, as the benchmark
    trains): what a warning names, since this run does not meet it. A column whose model has the
    same width and map as one covered is not checked again."""
    from ..suites import get_suite

    covered = {(model_width(m), run_map_sizes(config.replace(model=m, sac=None))[0]) for m in covered_models}
    out = []
    for model, dataset in get_suite("benchmark").columns:
        if model in covered_models:
            continue
        shape = (model_width(model), stage_map_sizes(model)[-1])
        if shape in covered:
            continue
        column = config.replace(model=model, dataset=dataset, sac=None, amp="none", model_args={})
        try:
            report = contract_check(column)
        except ValueError as exc:  # built for this run's width (fitted LDA weights): cannot be built there at all
            out.append((f"{model}/{dataset} ({_maps_text([shape[1]])})", f"cannot be built: {exc}"))
            continue
        if not report.passed:
            names, row = report.grouped(report.failures(fatal_only=True))[0]
            out.append((f"{model}/{dataset} ({_maps_text([shape[1]])})", f"{names}: {row.detail.split('; ')[0]}"))
    return out
