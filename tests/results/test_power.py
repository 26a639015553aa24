"""Seed planning arithmetic against statsmodels' power functions (computed there, not here), and the
published ResNet-56 figures: 0.78 / 0.43 / 0.30 points at 3 / 10 / 20 seeds."""

import math

import numpy as np
import pytest

from poolbench.results import power
from poolbench.results.plan import published_spread

sm_power = pytest.importorskip("statsmodels.stats.power", reason="statsmodels is in the test extra")

SD = 0.34


@pytest.mark.parametrize("n", [2, 3, 5, 10, 20, 50])
def test_unpaired_normal_is_statsmodels_normal_ind_power(n):
    effect = sm_power.NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=1)
    assert power.detectable_difference(SD, n) == pytest.approx(effect * SD, rel=1e-5)


@pytest.mark.parametrize("n", [3, 5, 10, 20])
def test_paired_normal_is_the_one_sample_normal_power(n):
    effect = sm_power.NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=0)
    assert power.detectable_difference(SD, n, "paired") == pytest.approx(effect * SD, rel=1e-5)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 20])
def test_unpaired_t_is_statsmodels_ttest_ind_power(n):
    effect = sm_power.TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=1)
    assert power.detectable_difference(SD, n, "unpaired", "t") == pytest.approx(effect * SD, rel=1e-4)


@pytest.mark.parametrize("n", [3, 5, 10, 20])
def test_paired_t_is_statsmodels_ttest_power(n):
    effect = sm_power.TTestPower().solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8)
    assert power.detectable_difference(SD, n, "paired", "t") == pytest.approx(effect * SD, rel=1e-4)


@pytest.mark.parametrize(  # statsmodels' solver needs an answer above 2 seeds
    "difference, design, ratio",
    [(0.2, "unpaired", 1), (0.43, "unpaired", 1), (0.78, "unpaired", 1), (0.2, "paired", 0), (0.43, "paired", 0)],
)
def test_seeds_needed_is_the_ceiling_of_statsmodels_nobs(difference, design, ratio):
    nobs = sm_power.NormalIndPower().solve_power(effect_size=difference / SD, alpha=0.05, power=0.8, ratio=ratio)
    assert power.seeds_needed(difference, SD, design) == max(2, math.ceil(nobs - 1e-9))
    t_solver = sm_power.TTestIndPower() if design == "unpaired" else sm_power.TTestPower()
    kw = {"nobs1": None, "ratio": 1} if design == "unpaired" else {"nobs": None}
    t_nobs = t_solver.solve_power(effect_size=difference / SD, alpha=0.05, power=0.8, **kw)
    assert power.seeds_needed(difference, SD, design, "t") == max(2, math.ceil(t_nobs - 1e-6))


def test_the_published_resnet56_figures():
    """0.78 / 0.43 / 0.30 at 3 / 10 / 20 seeds (alpha 0.05, power 0.8, normal approximation)."""
    spread = published_spread("resnet56-cifar100", "benchmark", ["avg_max", "gem"])
    x, y = np.array([71.06, 71.60, 71.84]), np.array([72.39, 72.00, 72.49])  # the leaderboard, seeds 42/123/456
    assert spread.sd == pytest.approx(math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))  # 0.337
    assert spread.sd_diff == pytest.approx(np.std(y - x, ddof=1))  # 0.481 = 0.340 * sqrt(2)
    paired = [round(power.detectable_difference(spread.sd_diff, n, "paired"), 2) for n in (3, 10, 20)]
    unpaired = [round(power.detectable_difference(spread.sd, n), 2) for n in (3, 10, 20)]
    assert paired == [0.78, 0.43, 0.30]
    assert unpaired == [0.77, 0.42, 0.30]
    assert [round(power.detectable_difference(0.34, n), 2) for n in (3, 10, 20)] == [0.78, 0.43, 0.30]


def test_all_three_resnet56_baselines_pool_global_maxs_spread():
    spread = published_spread("resnet56-cifar100")
    groups = [[71.06, 71.60, 71.84], [72.39, 72.00, 72.49], [69.96, 70.49, 67.84]]
    assert spread.sd == pytest.approx(math.sqrt(np.mean([np.var(g, ddof=1) for g in groups])))
    assert spread.df == 6 and set(spread.per_pool) == {"avg_max", "gem", "global_max"}


def test_the_reruns_collapses_are_left_out_of_the_spread():
    spread = published_spread("vgg16_bn-cifar100", "rerun")
    assert spread.per_pool["gem"] == (pytest.approx(math.nan, nan_ok=True), 1)  # seeds 1, 2 collapsed
    assert spread.per_pool["global_max"][1] == 2 and "3 collapsed run(s) left out" in spread.source
    assert spread.sd == pytest.approx(
        math.sqrt((np.var([72.08, 74.42, 73.99], ddof=1) * 2 + np.var([74.21, 74.16], ddof=1)) / 3)
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="unpaired, paired"):
        power.detectable_difference(1.0, 3, "crossed")
    with pytest.raises(ValueError, match="positive"):
        power.seeds_needed(0.0, 1.0)
    with pytest.raises(ValueError, match="benchmark, rerun"):
        published_spread("resnet56-cifar100", "arxiv")
    with pytest.raises(ValueError, match="have no column"):
        published_spread("resnet56-cifar100", "rerun")
