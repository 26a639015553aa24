"""The scikit-image operations that Hendrycks & Dietterich's CIFAR-10-C / -P generators call,
re-derived with numpy / scipy (scikit-image is not a dependency).

* ``rgb_to_hsv`` / ``hsv_to_rgb``: the hexcone model (Smith 1978) with scikit-image's tie rule: when
  two channels share the maximum, the later channel's hue formula wins (blue over green over red).
* ``gaussian``: ``skimage.filters.gaussian`` on a float image = ``scipy.ndimage.gaussian_filter``
  with the same ``mode`` / ``truncate`` and no smoothing across the channel axis.
* ``salt_and_pepper``: ``skimage.util.random_noise(mode='s&p')``: each value independently hit with
  probability ``amount``; a hit value becomes 1 (salt) or 0 (pepper) with even odds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of the turn)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    delta = v - rgb.min(-1)
    safe = np.where(delta == 0, 1.0, delta)
    s = np.where(delta == 0, 0.0, delta / np.where(v == 0, 1.0, v))
    h = np.where(r == v, (g - b) / safe, 0.0)
    h = np.where(g == v, 2.0 + (b - r) / safe, h)
    h = np.where(b == v, 4.0 + (r - g) / safe, h)
    h = np.where(delta == 0, 0.0, (h / 6.0) % 1.0)
    return np.stack([h, s, v], -1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of ``rgb_to_hsv``: sector i = floor(6h), f = 6h - i, then (v, t, p), (q, v, p), ..."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    sector = (i.astype(np.int64) % 6)[..., None]
    choices = [np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    return np.choose(np.broadcast_to(sector, choices[0].shape), choices)


def gaussian(
    x: np.ndarray, sigma: float, channel_axis: bool = True, mode: str = "nearest", truncate: float = 4.0
) -> np.ndarray:
    """Gaussian smoothing of an [H, W] or [H, W, C] float image (``channel_axis``: last axis unsmoothed)."""
    sigmas = (sigma, sigma, 0) if (channel_axis and x.ndim == 3) else (sigma,) * x.ndim
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def salt_and_pepper(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    out = x.copy()
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out
