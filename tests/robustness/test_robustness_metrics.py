"""CE / relative CE / flip probability / flip rate on hand-made numbers and toy classifiers."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from poolbench.robustness.evaluate import (corruption_errors, flip_probabilities, flip_rates,
                                           relative_corruption_errors, select_images)
from poolbench.robustness.perturbations import num_frames


def test_relative_corruption_errors_by_hand():
    run = {"clean": 10.0, "errors": {"fog": {"1": 20.0, "2": 30.0}, "contrast": {"1": 15.0, "2": 25.0}}}
    base = {"clean": 5.0, "errors": {"fog": {"1": 25.0, "2": 35.0}, "contrast": {"1": 10.0, "2": 30.0}}}
    out = relative_corruption_errors(run, base)
    assert out["per_corruption"]["fog"]["ce"] == pytest.approx(100 * 50 / 60)
    assert out["per_corruption"]["fog"]["relative_ce"] == pytest.approx(100 * (10 + 20) / (20 + 30))
    assert out["per_corruption"]["contrast"]["ce"] == pytest.approx(100 * 40 / 40)
    assert out["mCE"] == pytest.approx((100 * 50 / 60 + 100.0) / 2)


def test_relative_ce_is_undefined_when_the_baseline_barely_degrades():
    run = {"n": 500, "clean": 70.0, "errors": {"jpeg": {"1": 72.0, "2": 73.0}, "fog": {"1": 80.0, "2": 90.0}}}
    base = {"n": 500, "clean": 66.0, "errors": {"jpeg": {"1": 66.2, "2": 65.9}, "fog": {"1": 76.0, "2": 86.0}}}
    out = relative_corruption_errors(run, base)["per_corruption"]
    assert out["jpeg"]["relative_ce"] is None and out["jpeg"]["ce"] == pytest.approx(100 * 145 / 132.1)
    assert out["fog"]["relative_ce"] == pytest.approx(100 * 30 / 30)


def test_flip_rate_by_hand():
    out = flip_rates({"rotate": 2.0, "scale": 3.0}, {"rotate": 4.0, "scale": 3.0})
    assert out["per_perturbation"] == {"rotate": 50.0, "scale": 100.0}
    assert out["mFR"] == 75.0
    undefined = flip_rates({"rotate": 1.0, "scale": 2.0}, {"rotate": 0.0, "scale": 4.0})
    assert undefined["per_perturbation"]["rotate"] is None and undefined["mFR"] == 50.0


class MeanThreshold(nn.Module):
    """Class 1 when the mean normalised pixel is above a threshold: flips with brightness only."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        score = x.mean(dim=(1, 2, 3)) - self.threshold
        return torch.stack([-score, score], 1)


def test_flip_probability_of_toy_classifiers():
    g = torch.Generator().manual_seed(0)
    # rows constant along the width: a horizontal shift with reflected borders keeps every mean exactly
    x = (torch.rand(40, 3, 32, 1, generator=g) * 255).to(torch.uint8).expand(40, 3, 32, 32).contiguous()
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    scores = x.float().div(255).mean(dim=(1, 2, 3))
    model = MeanThreshold(float(scores.median()))  # half the images sit near the decision boundary
    fp = flip_probabilities(model, x, mean, std, torch.device("cpu"), names=["brightness", "translate"])
    assert fp["translate"] == 0.0
    n = num_frames("brightness")
    # along a monotone brightness ramp each image flips at most once
    assert 0 < fp["brightness"] <= 100.0 / (n - 1) + 1e-9


def test_corruption_errors_of_a_constant_classifier():
    x = (torch.rand(20, 3, 32, 32) * 255).to(torch.uint8)
    y = torch.tensor([0] * 15 + [1] * 5)
    const = MeanThreshold(-1e9)  # always class 1
    out = corruption_errors(const, x, y, (0.0,) * 3, (1.0,) * 3, torch.device("cpu"),
                            names=["fog", "jpeg_compression"], severities=[1, 5])
    assert out["clean"] == pytest.approx(75.0)
    assert out["errors"]["fog"] == {"1": pytest.approx(75.0), "5": pytest.approx(75.0)}


def test_select_images_is_fixed():
    x, y = torch.arange(100).view(100, 1, 1, 1), torch.arange(100)
    a, b = select_images(x, y, 10), select_images(x, y, 10)
    assert torch.equal(a[1], b[1]) and len(a[1]) == 10 and torch.equal(a[0].flatten(), a[1])
    assert select_images(x, y, None)[1] is y
