"""Corruptions and perturbation sequences: shapes, determinism, severity ordering, exact formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from poolbench.robustness.corruptions import BRIGHTNESS, CORRUPTIONS, corrupt
from poolbench.robustness.perturbations import PERTURBATIONS, frame, num_frames


def smooth_images(n: int = 16, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Natural-ish uint8 images: a low-frequency colour field plus a bright square (edges to blur)."""
    g = torch.Generator().manual_seed(seed)
    low = F.interpolate(torch.rand(n, c, 4, 4, generator=g), size=(size, size), mode="bilinear", align_corners=False)
    low[:, :, 10:20, 12:22] += 0.5
    return (low.clamp(0, 1) * 230 + 10).round().to(torch.uint8)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_is_deterministic_and_keeps_shape(name):
    x = smooth_images(6)
    a, b = corrupt(x, name, 3, seed=1), corrupt(x, name, 3, seed=1)
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, x), f"{name} at severity 3 changed nothing"


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "motion_blur", "elastic_transform", "fog"])
def test_random_corruptions_depend_on_seed(name):
    x = smooth_images(6)
    assert not torch.equal(corrupt(x, name, 3, seed=0), corrupt(x, name, 3, seed=1))


# elastic_transform is left out: its severities trade affine jitter against displacement, so its
# pixel change is not monotone (it is not in Hendrycks' CIFAR-10-C either).
@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n != "elastic_transform"])
def test_severity_increases_the_change(name):
    x = smooth_images(32)
    change = [(corrupt(x, name, s).float() - x.float()).abs().mean().item() for s in range(1, 6)]
    assert change[4] > change[0], (name, change)
    assert all(b >= a - 0.5 for a, b in zip(change, change[1:])), (name, change)


def test_brightness_adds_to_hsv_value():
    x = smooth_images(4, c=1)  # grey: HSV value is the pixel itself
    out = corrupt(x, "brightness", 2)
    expect = np.rint(np.clip(x.numpy() / 255.0 + BRIGHTNESS[1], 0, 1) * 255)
    assert np.abs(out.numpy().astype(int) - expect).max() <= 1  # rounding of x * V'/V vs x + c
    rgb = smooth_images(4)
    out = corrupt(rgb, "brightness", 1).float()
    # hue and saturation kept: channel ratios unchanged (away from dark pixels, where uint8 rounding dominates)
    bright = rgb.min(dim=1).values > 60
    ratio_in = rgb[:, 0].float() / rgb[:, 1].float()
    ratio_out = out[:, 0] / out[:, 1]
    assert bright.float().mean() > 0.3
    assert torch.allclose(ratio_in[bright], ratio_out[bright], atol=0.03)
    assert (out.mean() - rgb.float().mean()) > 5  # and it did get brighter


def test_contrast_keeps_channel_means():
    x = smooth_images(4)
    out = corrupt(x, "contrast", 5).float()
    assert torch.allclose(out.mean(dim=(2, 3)), x.float().mean(dim=(2, 3)), atol=0.6)
    assert out.std() < 0.3 * x.float().std()


def test_grayscale_and_bad_input():
    x = smooth_images(3, c=1)
    for name in CORRUPTIONS:
        assert corrupt(x, name, 5).shape == x.shape
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(x, "snow", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "fog", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(x.float(), "fog", 1)


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_sequences_pass_through_the_clean_image(name):
    x = smooth_images(5)
    t = num_frames(name)
    assert t % 2 == 1
    mid = frame(x, name, t // 2)
    assert (mid.int() - x.int()).abs().max() <= 1  # resampling at the identity rounds to the same pixels
    first, last = frame(x, name, 0), frame(x, name, t - 1)
    assert not torch.equal(first, x) and not torch.equal(last, x)


def test_translate_moves_content_right():
    x = smooth_images(2)
    t = num_frames("translate")
    shifted = frame(x, "translate", t // 2 + 1)  # +1 pixel
    assert torch.equal(shifted[..., 1:], x[..., :-1])
