"""The scikit-image re-derivations: HSV round trips by hand and against scikit-image where installed."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from poolbench.robustness.skimage_equiv import gaussian, hsv_to_rgb, rgb_to_hsv


def test_hsv_against_colorsys():
    rgb = np.random.default_rng(0).random((64, 3))
    rgb[:8] = rgb[:8, :1]  # greys: hue and saturation 0
    rgb[8:12, 1] = rgb[8:12, 0]  # ties for the maximum
    hsv = rgb_to_hsv(rgb[None])[0]
    for c, h in zip(rgb, hsv, strict=True):
        assert np.allclose(h, colorsys.rgb_to_hsv(*c), atol=1e-12)
    assert np.allclose(hsv_to_rgb(hsv[None])[0], rgb, atol=1e-12)


def test_against_scikit_image():
    sk = pytest.importorskip("skimage", reason="scikit-image not installed (pip install 'poolbench[robustness]')")
    from skimage import color, filters

    x = np.random.default_rng(1).random((32, 32, 3))
    x[:4] = np.round(x[:4] * 4) / 4  # ties
    assert np.array_equal(rgb_to_hsv(x), color.rgb2hsv(x))
    h = color.rgb2hsv(x)
    assert np.array_equal(hsv_to_rgb(h), color.hsv2rgb(h))
    assert np.allclose(gaussian(x, 0.7), filters.gaussian(x, sigma=0.7, channel_axis=-1), atol=1e-12)
    assert np.allclose(
        gaussian(x[..., 0], 3, mode="reflect", truncate=3),
        filters.gaussian(x[..., 0], sigma=3, mode="reflect", truncate=3),
        atol=1e-12,
    )
    del sk
