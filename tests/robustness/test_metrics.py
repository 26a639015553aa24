"""CE / relative CE / mCE, flip probability (noise vs motion), flip rate / mFR and top-5 distance,
on hand-made numbers and against the paper's formulas written out literally."""

from __future__ import annotations

import numpy as np
import pytest

from poolbench.robustness import metrics
from poolbench.robustness.corruptions import STANDARD


def test_ce_and_relative_ce_by_hand():
    run = {
        "clean": 10.0,
        "errors": {
            "fog": {"1": 20.0, "2": 30.0},
            "contrast": {"1": 15.0, "2": 25.0},
            "saturate": {"1": 50.0, "2": 60.0},
        },
    }
    base = {
        "clean": 5.0,
        "errors": {
            "fog": {"1": 25.0, "2": 35.0},
            "contrast": {"1": 10.0, "2": 30.0},
            "saturate": {"1": 10.0, "2": 10.0},
        },
    }
    out = metrics.corruption_errors(run, base, STANDARD)
    per = out["per_corruption"]
    assert per["fog"]["ce"] == pytest.approx(100 * 50 / 60)
    assert per["fog"]["relative_ce"] == pytest.approx(100 * (10 + 20) / (20 + 30))
    assert per["contrast"]["ce"] == pytest.approx(100.0)
    assert out["mCE"] == pytest.approx((100 * 50 / 60 + 100.0) / 2) and out["mCE_over"] == 2  # saturate: extra
    assert per["saturate"]["ce"] == pytest.approx(100 * 110 / 20)


def test_relative_ce_undefined_when_the_baseline_does_not_degrade():
    run = {"clean": 10.0, "errors": {"jpeg_compression": {"1": 12.0}, "fog": {"1": 30.0}}}
    base = {"clean": 20.0, "errors": {"jpeg_compression": {"1": 19.0}, "fog": {"1": 40.0}}}
    out = metrics.corruption_errors(run, base, STANDARD)
    assert out["per_corruption"]["jpeg_compression"]["relative_ce"] is None
    assert out["relative_mCE"] == pytest.approx(100 * 20 / 20) and out["relative_mCE_over"] == 1
    assert out["mCE_over"] == 2


def literal_fp(preds, noise):
    """The paper's FP: mean over videos of mean over j of 1[f(x_j) != f(x_{j-1})] (noise: != f(x_1))."""
    total = 0.0
    for v in preds:
        flips = [int(v[j] != (v[0] if noise else v[j - 1])) for j in range(1, len(v))]
        total += np.mean(flips) / len(preds)
    return 100 * total


def test_flip_probability_noise_against_the_first_frame_motion_frame_to_frame():
    preds = np.array([[0, 1, 1, 1], [2, 2, 2, 2], [0, 1, 0, 1]])
    assert metrics.flip_probability(preds, noise=False) == pytest.approx(100 * (1 + 0 + 3) / 9)
    assert metrics.flip_probability(preds, noise=True) == pytest.approx(100 * (3 + 0 + 2) / 9)
    rng = np.random.default_rng(0)
    p = rng.integers(0, 3, (20, 31))
    for noise in (True, False):
        assert metrics.flip_probability(p, noise) == pytest.approx(literal_fp(p, noise))
    # frame step d: chains x_k, x_{k+d}, ... for each offset k < d
    assert metrics.flip_probability(np.array([[0, 0, 1, 0]]), noise=False, step=2) == pytest.approx(100 * 1 / 2)


def literal_top5(ranks_a, ranks_b):
    """d = sum_{i=1..5} sum_{j=min(i, s(i))+1}^{max(i, s(i))} 1[2 <= j <= 6], s(i) = new rank of the
    class at old rank i (ranks are 1-based, class -> rank)."""
    by_rank = {r: c for c, r in enumerate(ranks_a)}
    d = 0
    for i in range(1, 6):
        s = ranks_b[by_rank[i]]
        d += sum(1 for j in range(min(i, s) + 1, max(i, s) + 1) if 2 <= j <= 6)
    return d


def test_top5_distance_equals_the_papers_double_sum():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 5, 10))
    ranks = metrics.ranks_of(logits)
    assert (np.sort(ranks, -1) == np.arange(1, 11)).all() and (ranks[..., :] >= 1).all()
    assert ranks[0, 0, np.argmax(logits[0, 0])] == 1
    for noise in (True, False):
        pairs = [(0, j) for j in range(1, 5)] if noise else [(j - 1, j) for j in range(1, 5)]
        expect = np.mean([np.mean([literal_top5(ranks[v, a], ranks[v, b]) for a, b in pairs]) for v in range(6)])
        assert metrics.top5_distance(ranks, noise) == pytest.approx(expect)
    same = np.repeat(ranks[:, :1], 5, axis=1)
    assert metrics.top5_distance(same, False) == 0
    swap = ranks[:1, :2].copy()
    order = np.argsort(swap[0, 0])
    swap[0, 1] = swap[0, 0]
    swap[0, 1, order[0]], swap[0, 1, order[1]] = 2, 1  # ranks 1 and 2 swapped: |c(2)-c(1)| + |c(1)-c(2)| = 2
    assert metrics.top5_distance(swap, False) == 2


def test_flip_rates_and_mfr_over_the_standard_ten():
    fp = metrics.perturbation_fp(
        {"shot_noise": 3.0, "shot_noise_2": 6.0, "shot_noise_3": 9.0, "rotate": 2.0, "shear": 1.0},
        {"shot_noise": ["shot_noise", "shot_noise_2", "shot_noise_3"], "rotate": ["rotate"], "shear": ["shear"]},
    )
    assert fp == {"shot_noise": 6.0, "rotate": 2.0, "shear": 1.0}
    base = {"shot_noise": 12.0, "rotate": 0.0, "shear": 4.0}
    from poolbench.robustness.perturbations import STANDARD as P_STD

    out = metrics.flip_rates(fp, base, P_STD)
    assert out["per_perturbation"] == {"shot_noise": 50.0, "rotate": None, "shear": 25.0}
    assert out["mFR"] == 50.0 and out["mFR_over"] == 1  # rotate undefined, shear an extra


def test_error():
    assert metrics.error(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0])) == 50.0
