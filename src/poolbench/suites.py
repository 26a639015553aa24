"""Named suites: sets of (model, dataset) columns, and whose columns they are.

The benchmark's suite is its three published columns. Two of them end in 1x1 maps (VGG-16-BN and
MobileNetV2 at 32x32), where a global pool sees one value per channel and avg, max and avg+max are
the same function, so those columns cannot tell such pools apart. The ``spatial`` suite is
poolbench's own: the benchmark's protocol on models whose final map is spatial (ResNet-56 8x8,
``vgg16_bn_s2`` 2x2, ``mobilenetv2_s4`` 4x4; docs/models.md). Its columns are poolbench's, never the
benchmark's: ``column_origin`` says which is which, and every table shows it. ResNet-56 on CIFAR-100
is the benchmark's own column (already 8x8), shared by both suites: the same runs, not trained twice.

Each ``-cifar10`` suite is its parent where CIFAR-100 is not available: CIFAR-10 in its place,
Fashion-MNIST kept. This module imports nothing, so a command line can list the suites cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

BENCHMARK = "benchmark"  # the origin of the benchmark's own columns
POOLBENCH = "poolbench"  # the origin of poolbench's own columns (the spatial suite's)


@dataclass(frozen=True)
class Suite:
    name: str
    origin: str  # BENCHMARK or POOLBENCH: whose columns these are
    columns: tuple[tuple[str, str], ...]  # (model, dataset), in the order tables show them
    about: str  # one line for help texts and reports


_SUITES = (
    Suite(
        "benchmark",
        BENCHMARK,
        (("resnet56", "cifar100"), ("vgg16_bn", "cifar100"), ("mobilenetv2", "fashion_mnist")),
        "the benchmark's three columns",
    ),
    Suite(
        "benchmark-cifar10",
        BENCHMARK,
        (("resnet56", "cifar10"), ("vgg16_bn", "cifar10"), ("mobilenetv2", "fashion_mnist")),
        "the benchmark's columns with CIFAR-10 in place of CIFAR-100",
    ),
    Suite(
        "spatial",
        POOLBENCH,
        (("resnet56", "cifar100"), ("vgg16_bn_s2", "cifar100"), ("mobilenetv2_s4", "fashion_mnist")),
        "poolbench's columns with spatial final maps (8x8, 2x2, 4x4), the benchmark's protocol",
    ),
    Suite(
        "spatial-cifar10",
        POOLBENCH,
        (("resnet56", "cifar10"), ("vgg16_bn_s2", "cifar10"), ("mobilenetv2_s4", "fashion_mnist")),
        "the spatial suite with CIFAR-10 in place of CIFAR-100",
    ),
)
SUITES: dict[str, Suite] = {s.name: s for s in _SUITES}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}") from None


def column_origin(model: str, dataset: str) -> str | None:
    """Whose column (model, dataset) is: ``"benchmark"`` when a benchmark suite has it (its models on
    its datasets), ``"poolbench"`` when only poolbench's suites have it (``vgg16_bn_s2`` on CIFAR-100),
    None for a column of no suite. Tables label a poolbench column as poolbench's, never as the
    benchmark's."""
    origins = {s.origin for s in _SUITES if (model, dataset) in s.columns}
    if BENCHMARK in origins:
        return BENCHMARK
    return POOLBENCH if origins else None


def poolbench_models() -> set[str]:
    """The models only poolbench's suites have (``vgg16_bn_s2``, ``mobilenetv2_s4``): a column of
    one of them is poolbench's on any dataset, and tables label it so."""
    ours = {m for s in _SUITES if s.origin == POOLBENCH for m, _ in s.columns}
    return ours - {m for s in _SUITES if s.origin == BENCHMARK for m, _ in s.columns}
