"""ImageMagick's motion blur (``MagickMotionBlurImage``, called through Wand by Hendrycks &
Dietterich's ``motion_blur`` and ``snow``), re-derived with numpy.

ImageMagick blurs along a one-sided ray: the kernel has ``width = 2 * ceil(radius) + 1`` taps with
weights ``w_i = exp(-i^2 / (2 sigma^2))`` (i = 0 .. width-1, normalised to sum 1); tap i reads the
pixel offset by ``(ceil(i cos a - 1/2), ceil(i sin a - 1/2))`` (x right, y down, a = angle), so
the taps are whole-pixel steps along the angle, nearest pixel, no interpolation. (ImageMagick
computes the direction as (width sin a, width cos a) / hypot(...); at angles such as -150 deg,
i sin a lands on k + 1/2 and the last bit of that arithmetic decides the rounding, so it is kept.) Reads past the
border repeat the edge pixel (ImageMagick's default virtual-pixel method). Pixels are 16-bit
quanta inside (8-bit value v is 257 v): the weighted sum is rounded to a 16-bit quantum Q and
written back to 8 bits as floor(Q / 257). This equals ImageMagick 6.9.11 Q16's
``convert -motion-blur RxS+A`` bit for bit (checked by ``tests/robustness/test_imagemagick.py``
where ``convert`` is installed).
"""

from __future__ import annotations

import math

import numpy as np


def motion_taps(radius: float, sigma: float, angle_deg: float) -> list[tuple[int, int, float]]:
    """(dx, dy, weight) per tap of ImageMagick's motion-blur kernel."""
    width = int(2 * math.ceil(radius) + 1)
    weights = np.exp(-(np.arange(width, dtype=np.float64) ** 2) / (2.0 * sigma * sigma))
    weights /= weights.sum()
    a = math.pi * angle_deg / 180.0  # ImageMagick's DegreesToRadians, rounded as it rounds
    px, py = width * math.sin(a), width * math.cos(a)
    norm = math.hypot(px, py)
    return [
        (int(math.ceil(i * py / norm - 0.5)), int(math.ceil(i * px / norm - 0.5)), float(weights[i]))
        for i in range(width)
    ]


def motion_blur(img: np.ndarray, radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    """uint8 [H, W] or [H, W, C] -> uint8 of the same shape."""
    h, w = img.shape[:2]
    src = img.astype(np.float64) * 257.0
    rows, cols = np.arange(h), np.arange(w)
    out = np.zeros_like(src)
    for dx, dy, wgt in motion_taps(radius, sigma, angle_deg):
        out += wgt * src[np.clip(rows + dy, 0, h - 1)][:, np.clip(cols + dx, 0, w - 1)]
    quantum = np.floor(out + 0.5)
    return np.clip(np.floor(quantum / 257.0), 0, 255).astype(np.uint8)
