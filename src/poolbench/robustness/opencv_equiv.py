"""The OpenCV operations that Hendrycks & Dietterich's CIFAR-10-C / -P generators call, re-derived
with numpy / scipy (OpenCV is not a dependency). Each follows OpenCV's documented arithmetic,
including the parts that change pixel values:

* borders: ``BORDER_REFLECT_101`` (``gfedcb|abcdefgh|gfedcba``, numpy's ``reflect``) unless said;
* warps: the source coordinate of each output pixel is quantised to 1/32 pixel
  (``INTER_BITS = 5``; affine maps in 10-bit fixed point first, ``AB_BITS = 10``), then bilinear;
  8-bit images interpolate with 15-bit fixed-point weights, rounding ``(sum + 2^14) >> 15``;
* Canny: 3x3 Sobel (edge pixels replicated), L1 magnitude, non-maximum suppression in four
  sectors split at tan(22.5 deg) in 15-bit fixed point, hysteresis over 8-connected pixels;
* distance transform ``DIST_L2`` with the 5x5 mask: chamfer steps 1, 1.4, 2.1969 (float32), two
  raster passes;
* ``equalizeHist``: lut[j] = round(255 * cdf(j) / (N - count of the darkest level)).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

INTER_BITS, INTER_TAB_SIZE, AB_BITS = 5, 32, 10


# ----------------------------------------------------------------------------- filtering
def gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """``cv2.getGaussianKernel`` (sigma > 0): normalised exp(-x^2 / 2 sigma^2), as float32."""
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2.0
    k = np.exp(-x * x / (2.0 * sigma * sigma))
    return (k / k.sum()).astype(np.float32)


def correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.filter2D`` (centred anchor, BORDER_REFLECT_101) of a 2-D array, float64 arithmetic."""
    kh, kw = kernel.shape
    p = np.pad(x.astype(np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="reflect")
    out = np.zeros(x.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            if kernel[i, j] != 0:
                out += float(kernel[i, j]) * p[i : i + x.shape[0], j : j + x.shape[1]]
    return out


def gaussian_blur(x: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur`` of a float32 2-D array (separable, BORDER_REFLECT_101)."""
    k = gaussian_kernel(ksize, sigma)
    r = ksize // 2
    t = np.pad(x.astype(np.float32), ((0, 0), (r, r)), mode="reflect")
    rows = sum(k[j] * t[:, j : j + x.shape[1]] for j in range(ksize))
    t = np.pad(rows.astype(np.float32), ((r, r), (0, 0)), mode="reflect")
    return sum(k[i] * t[i : i + x.shape[0]] for i in range(ksize)).astype(np.float32)


def box_blur3(x: np.ndarray) -> np.ndarray:
    """``cv2.blur(x, (3, 3))``: uint8 in -> uint8 (rounded mean); float32 in -> float32."""
    p = np.pad(x.astype(np.float64), 1, mode="reflect")
    s = sum(p[i : i + x.shape[0], j : j + x.shape[1]] for i in range(3) for j in range(3))
    if x.dtype == np.uint8:
        return np.rint(s / 9.0).astype(np.uint8)
    return (s * (1.0 / 9.0)).astype(np.float32)


def rgb_to_gray(x: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(x, COLOR_RGB2GRAY)`` of a float32 image: 0.299 R + 0.587 G + 0.114 B."""
    x = x.astype(np.float32)
    return x[..., 0] * np.float32(0.299) + x[..., 1] * np.float32(0.587) + x[..., 2] * np.float32(0.114)


def equalize_hist(x: np.ndarray) -> np.ndarray:
    """``cv2.equalizeHist`` of a uint8 2-D array."""
    hist = np.bincount(x.ravel(), minlength=256)
    first = int(np.flatnonzero(hist)[0])
    total = x.size
    if hist[first] == total:
        return np.full_like(x, first)
    scale = np.float32(255.0 / (total - hist[first]))
    cdf = np.cumsum(hist).astype(np.int64) - hist[first]
    lut = np.clip(np.rint(cdf.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    lut[: first + 1] = 0
    return lut[x]


# ----------------------------------------------------------------------------- Canny, distance
def canny(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``cv2.Canny(x, low, high)`` (aperture 3, L1 gradient) of a uint8 2-D array -> 0 / 255."""
    p = np.pad(x.astype(np.int64), 1, mode="edge")
    h, w = x.shape

    def s(i, j):
        return p[i : i + h, j : j + w]  # the neighbour at offset (i-1, j-1)

    dx = (s(0, 2) + 2 * s(1, 2) + s(2, 2)) - (s(0, 0) + 2 * s(1, 0) + s(2, 0))
    dy = (s(2, 0) + 2 * s(2, 1) + s(2, 2)) - (s(0, 0) + 2 * s(0, 1) + s(0, 2))
    mag = np.abs(dx) + np.abs(dy)
    m = np.pad(mag, 1)  # magnitudes outside the image are 0

    def n(i, j):
        return m[1 + i : 1 + i + h, 1 + j : 1 + j + w]  # magnitude at offset (i, j)

    tg22 = int(0.4142135623730950488 * (1 << 15) + 0.5)
    ax, ay = np.abs(dx), np.abs(dy) << 15
    tg22x = ax * tg22
    tg67x = tg22x + (ax << 16)
    sign = np.where((dx ^ dy) < 0, -1, 1)
    diag_a = np.where(sign < 0, n(-1, 1), n(-1, -1))  # previous row, column j - s
    diag_b = np.where(sign < 0, n(1, -1), n(1, 1))  # next row, column j + s
    keep = np.where(
        ay < tg22x,
        (mag > n(0, -1)) & (mag >= n(0, 1)),
        np.where(ay > tg67x, (mag > n(-1, 0)) & (mag >= n(1, 0)), (mag > diag_a) & (mag > diag_b)),
    )
    candidate = keep & (mag > low)
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3), int))
    strong = np.unique(labels[candidate & (mag > high)])
    return np.where(np.isin(labels, strong[strong > 0]), 255, 0).astype(np.uint8)


def distance_transform_l2_5(x: np.ndarray) -> np.ndarray:
    """``cv2.distanceTransform(x, DIST_L2, 5)``: float32 chamfer distance to the nearest zero pixel.

    Two raster passes over the 5x5 mask (steps 1, 1.4, 2.1969 as float32, sums rounded to float32
    as OpenCV adds them). Within a row the pass d[j] = min(a[j], d[j-1] + 1) is taken as the running
    minimum of a[k] + (j - k), summed exactly and rounded once, where OpenCV rounds each + 1: the two
    could differ by one float32 ulp; on 300 spatter layers they agreed with OpenCV 4.10 exactly."""

    def f32(v):
        return v.astype(np.float32).astype(np.float64)  # round to float32

    hv, diag, long_ = (float(np.float32(v)) for v in (1.0, 1.4, 2.1969))
    big = 1e30
    h, w = x.shape
    t = np.full((h + 4, w + 4), big)
    inside = x != 0
    cols = np.arange(w, dtype=np.float64)

    def row_pass(a):  # d[j] = min over k <= j of a[k] + (j - k)
        return f32(np.minimum.accumulate(a - cols) + cols)

    for i in range(h):  # forward: the upper half of the mask, then the left neighbour in the row
        r = i + 2
        a = f32(
            np.minimum.reduce(
                [
                    t[r - 2, 1 : w + 1] + long_,
                    t[r - 2, 3 : w + 3] + long_,
                    t[r - 1, 0:w] + long_,
                    t[r - 1, 1 : w + 1] + diag,
                    t[r - 1, 2 : w + 2] + hv,
                    t[r - 1, 3 : w + 3] + diag,
                    t[r - 1, 4 : w + 4] + long_,
                ]
            )
        )
        a = np.where(inside[i], a, 0.0)
        t[r, 2 : w + 2] = np.where(inside[i], np.minimum(a, row_pass(a)), 0.0)
    for i in range(h - 1, -1, -1):  # backward: the lower half, then the right neighbour
        r = i + 2
        a = f32(
            np.minimum.reduce(
                [
                    t[r, 2 : w + 2],
                    t[r + 2, 3 : w + 3] + long_,
                    t[r + 2, 1 : w + 1] + long_,
                    t[r + 1, 4 : w + 4] + long_,
                    t[r + 1, 3 : w + 3] + diag,
                    t[r + 1, 2 : w + 2] + hv,
                    t[r + 1, 1 : w + 1] + diag,
                    t[r + 1, 0:w] + long_,
                ]
            )
        )
        t[r, 2 : w + 2] = np.where(inside[i], np.minimum(a, row_pass(a[::-1])[::-1]), 0.0)
    return t[2 : h + 2, 2 : w + 2].astype(np.float32)


# ----------------------------------------------------------------------------- warps
def affine_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``cv2.getAffineTransform``: the 2x3 M with M [p; 1] = q for three point pairs."""
    a = np.zeros((6, 6))
    b = np.zeros(6)
    for k in range(3):
        a[2 * k, :3] = a[2 * k + 1, 3:] = (src[k, 0], src[k, 1], 1.0)
        b[2 * k], b[2 * k + 1] = dst[k]
    return np.linalg.solve(a, b).reshape(2, 3)


def _invert_affine(m: np.ndarray) -> np.ndarray:
    d = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    d = 1.0 / d if d != 0 else 0.0
    a00, a01, a10, a11 = m[1, 1] * d, -m[0, 1] * d, -m[1, 0] * d, m[0, 0] * d
    return np.array([[a00, a01, -a00 * m[0, 2] - a01 * m[1, 2]], [a10, a11, -a10 * m[0, 2] - a11 * m[1, 2]]])


def _affine_coords(inv: np.ndarray, h: int, w: int):
    """Source coordinates of each output pixel in 1/32 pixel: OpenCV's warpAffine fixed point."""
    scale = 1 << AB_BITS
    xs, ys = np.arange(w), np.arange(h)
    adelta, bdelta = np.rint(inv[0, 0] * xs * scale).astype(np.int64), np.rint(inv[1, 0] * xs * scale).astype(np.int64)
    round_delta = scale // INTER_TAB_SIZE // 2
    x0 = np.rint((inv[0, 1] * ys + inv[0, 2]) * scale).astype(np.int64) + round_delta
    y0 = np.rint((inv[1, 1] * ys + inv[1, 2]) * scale).astype(np.int64) + round_delta
    X = (x0[:, None] + adelta[None, :]) >> (AB_BITS - INTER_BITS)
    Y = (y0[:, None] + bdelta[None, :]) >> (AB_BITS - INTER_BITS)
    return X, Y


def _perspective_coords(inv: np.ndarray, h: int, w: int):
    """Source coordinates in 1/32 pixel: OpenCV's warpPerspective (rounded X/W, Y/W)."""
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    X0 = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    Y0 = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    W = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    W = np.where(W != 0, INTER_TAB_SIZE / np.where(W != 0, W, 1.0), 0.0)
    lim = float(2**31 - 1)
    X = np.rint(np.clip(X0 * W, -lim - 1, lim)).astype(np.int64)
    Y = np.rint(np.clip(Y0 * W, -lim - 1, lim)).astype(np.int64)
    return X, Y


def _reflect101(i: np.ndarray, n: int) -> np.ndarray:
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def _bilinear(img: np.ndarray, X: np.ndarray, Y: np.ndarray, border: str) -> np.ndarray:
    """Remap with 1/32-pixel coordinates: float32 weights for float images, 15-bit fixed point for uint8."""
    h, w = img.shape[:2]
    sx, sy = X >> INTER_BITS, Y >> INTER_BITS

    def frac(v):
        return (v & (INTER_TAB_SIZE - 1)).astype(np.float32) / INTER_TAB_SIZE

    fx, fy = frac(X), frac(Y)
    wts = [(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]
    taps = [(0, 0), (0, 1), (1, 0), (1, 1)]
    integer = img.dtype == np.uint8
    acc = np.zeros(img.shape, np.int64 if integer else np.float32)
    for (oy, ox), wgt in zip(taps, wts, strict=True):
        yy, xx = sy + oy, sx + ox
        if border == "reflect101":
            val = img[_reflect101(yy, h), _reflect101(xx, w)]
        else:  # constant 0
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            val = img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)] * (ok[..., None] if img.ndim == 3 else ok)
        wgt = wgt[..., None] if img.ndim == 3 else wgt
        if integer:
            acc += np.rint(wgt * np.float32(1 << 15)).astype(np.int64) * val.astype(np.int64)
        else:
            acc += (wgt * val).astype(np.float32)
    if integer:
        out = np.clip((acc + (1 << 14)) >> 15, 0, 255).astype(np.uint8)
        if border != "reflect101":  # a pixel whose whole 2x2 neighbourhood is outside is the border value
            out[(sx >= w) | (sx + 1 < 0) | (sy >= h) | (sy + 1 < 0)] = 0
        return out
    return acc


def warp_affine(img: np.ndarray, m: np.ndarray, border: str = "reflect101") -> np.ndarray:
    """``cv2.warpAffine(img, m, (w, h), borderMode=...)`` with bilinear interpolation."""
    X, Y = _affine_coords(_invert_affine(m), *img.shape[:2])
    return _bilinear(img, X, Y, border)


def warp_perspective(img: np.ndarray, m: np.ndarray, border: str = "constant") -> np.ndarray:
    """``cv2.warpPerspective(img, m, (w, h))``: bilinear, black outside (BORDER_CONSTANT 0)."""
    X, Y = _perspective_coords(np.linalg.inv(m), *img.shape[:2])
    return _bilinear(img, X, Y, border)


def subsample_resize(img: np.ndarray, factor: float) -> np.ndarray:
    """``cv2.resize(img, (0, 0), fx=factor, fy=factor)`` (INTER_LINEAR) for factor = 1/k, k an integer:
    the source position (d + 1/2) k - 1/2 of output pixel d is the whole pixel d k + (k - 1)/2 when
    k is odd, so the bilinear weights are (1, 0) and the resize picks pixels."""
    k = round(1.0 / factor)
    if abs(1.0 / factor - k) > 1e-12 or k % 2 == 0:
        raise ValueError(f"subsample_resize needs factor 1/k with k odd, got {factor}")
    h, w = img.shape[:2]
    oh, ow = int(np.rint(h * factor)), int(np.rint(w * factor))
    ys = np.minimum(np.arange(oh) * k + (k - 1) // 2, h - 1)
    xs = np.minimum(np.arange(ow) * k + (k - 1) // 2, w - 1)
    return img[ys][:, xs]
