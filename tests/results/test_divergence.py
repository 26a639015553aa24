"""The divergence rate's interval (Wilson, from its formula) and the collapse rule."""

import math

import pytest

from poolbench.results.divergence import DivergenceCount, is_collapse, wilson_interval


@pytest.mark.parametrize("k, n", [(0, 3), (1, 3), (3, 9), (3, 3), (5, 40)])
def test_wilson_interval_from_its_formula(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))


def test_no_runs_no_interval_and_the_text():
    assert wilson_interval(0, 0) is None
    assert DivergenceCount(2, 1).text() == "1 of 3 diverged, 33% [6%, 79%]"
    assert DivergenceCount(3, 0).text().startswith("0 of 3 diverged, 0% [0%, ")


def test_collapse_is_chance_within_the_tolerance():
    assert is_collapse(1.0, 100) and is_collapse(1.4, 100) and not is_collapse(1.6, 100)
    assert is_collapse(10.0, 10) and not is_collapse(61.22, 10)  # a bad run, not chance
