"""Statistics against scipy and numpy called directly."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from poolbench.results.stats import best_vs_runner_up, compare_groups, mean_ci95, summarize

A = [72.3, 72.5, 72.4, 72.9]
B = [70.0, 70.4, 70.2]


def test_summarize():
    assert summarize(A) == pytest.approx((np.mean(A), np.std(A, ddof=1), 4))
    m, s, n = summarize([5.0])
    assert (m, n) == (5.0, 1) and math.isnan(s)
    assert summarize([])[2] == 0


def test_compare_groups_matches_scipy():
    r = compare_groups(A, B)
    assert r["mean_diff"] == pytest.approx(np.mean(A) - np.mean(B))
    assert r["welch_p"] == pytest.approx(sps.ttest_ind(A, B, equal_var=False).pvalue)
    ref = sps.bootstrap(
        (np.array(A), np.array(B)),
        lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
        method="BCa",
        n_resamples=9999,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert r["ci95"] == pytest.approx((ref.low, ref.high))
    assert r["ci95"][0] < r["mean_diff"] < r["ci95"][1]
    assert r["ci_method"].startswith("bootstrap BCa")
    assert r["paired"] is None


def test_paired_analysis_uses_only_matching_seeds():
    r = compare_groups(A, B, paired_seeds=([0, 1, 2, 3], [1, 2, 3]))
    x, y = [72.5, 72.4, 72.9], [70.0, 70.4, 70.2]  # seeds 1, 2, 3 on both sides
    assert r["paired"]["seeds"] == [1, 2, 3] and r["paired"]["n_pairs"] == 3
    assert r["paired"]["mean_diff"] == pytest.approx(np.mean(np.subtract(x, y)))
    assert r["paired"]["t_p"] == pytest.approx(sps.ttest_rel(x, y).pvalue)
    assert r["paired"]["wilcoxon_p"] == pytest.approx(sps.wilcoxon(x, y).pvalue)


def test_paired_needs_two_matching_seeds():
    r = compare_groups(A, B, paired_seeds=([0, 1, 2, 3], [3, 7, 8]))
    assert r["paired"] is None and "1 match" in r["paired_reason"]


def test_one_seed_gives_no_ci_and_says_why():
    r = compare_groups([71.0], B)
    assert r["ci95"] is None and r["welch_p"] is None
    assert "at least 2 seeds" in r["ci_reason"] and "n=1" in r["welch_reason"]
    assert r["mean_diff"] == pytest.approx(71.0 - np.mean(B))


def test_mean_ci95_is_the_t_interval():
    lo, hi = mean_ci95(B)
    ref = sps.t.interval(0.95, len(B) - 1, loc=np.mean(B), scale=sps.sem(B))
    assert (lo, hi) == pytest.approx(ref)
    assert mean_ci95([1.0]) is None


def test_best_vs_runner_up():
    v = best_vs_runner_up({"avg": B, "gem": A, "max": [60.0]})
    assert (v["best"], v["runner_up"], v["beats"]) == ("gem", "avg", True)
    assert v["p"] == pytest.approx(sps.ttest_ind(A, B, equal_var=False).pvalue)
    close = best_vs_runner_up({"avg": [94.5, 94.9], "gem": [94.6, 94.7]})
    assert close["best"] == "avg" and not close["beats"] and close["p"] > 0.05
    alone = best_vs_runner_up({"gem": A})
    assert alone["best"] == "gem" and not alone["beats"] and alone["reason"]
