"""The named suites: which columns they hold, whose columns those are, and why the spatial one exists."""

from __future__ import annotations

import pytest

from poolbench.models import final_map_size, list_models
from poolbench.suites import SUITES, column_origin, get_suite


def test_every_suite_names_registered_models():
    for suite in SUITES.values():
        assert {m for m, _ in suite.columns} <= set(list_models()), suite.name


def test_spatial_suite_is_the_benchmarks_datasets_on_spatial_maps():
    """Column by column: the benchmark's dataset, a model whose final map at 32x32 is wider than 1x1."""
    benchmark, spatial = get_suite("benchmark"), get_suite("spatial")
    assert [d for _, d in spatial.columns] == [d for _, d in benchmark.columns]
    assert [final_map_size(m) for m, _ in benchmark.columns] == [(8, 8), (1, 1), (1, 1)]
    assert [final_map_size(m) for m, _ in spatial.columns] == [(8, 8), (2, 2), (4, 4)]


@pytest.mark.parametrize("parent", ["benchmark", "spatial"])
def test_cifar10_forms_swap_only_cifar100(parent):
    swapped = [(m, "cifar10" if d == "cifar100" else d) for m, d in get_suite(parent).columns]
    assert list(get_suite(f"{parent}-cifar10").columns) == swapped


def test_column_origin_never_calls_a_poolbench_column_the_benchmarks():
    assert column_origin("vgg16_bn", "cifar100") == "benchmark"
    assert column_origin("mobilenetv2", "fashion_mnist") == "benchmark"
    assert column_origin("vgg16_bn_s2", "cifar100") == "poolbench"
    assert column_origin("mobilenetv2_s4", "fashion_mnist") == "poolbench"
    assert column_origin("vgg16_bn_s2", "cifar10") == "poolbench"
    # the benchmark's own ResNet-56 column, shared by the spatial suite: still the benchmark's
    assert column_origin("resnet56", "cifar100") == "benchmark"
    assert column_origin("resnet20", "synthetic") is None


def test_unknown_suite_lists_the_valid_ones():
    with pytest.raises(ValueError, match="spatial"):
        get_suite("spacial")


def test_poolbench_models_are_the_spatial_variants_only():
    from poolbench.suites import poolbench_models

    assert poolbench_models() == {"vgg16_bn_s2", "mobilenetv2_s4"}  # resnet56 is the benchmark's too
