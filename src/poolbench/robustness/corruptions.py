"""Common image corruptions at five severities, built in code (no CIFAR-10-C download needed).

After Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019 (the CIFAR-10-C set that the closed-form pooling paper, Birodkar et al.
2019, evaluates on). The severity constants are those of the authors' CIFAR-10-C generator
(``make_cifar_c.py`` in github.com/hendrycks/robustness); the operations are re-implemented with
numpy / scipy / torch / PIL instead of OpenCV, scikit-image and ImageMagick, so values agree in kind
and scale, not bit for bit. Where we deviate:

* motion blur: ImageMagick's one-sided motion kernel (``radius``, ``sigma``, random angle in
  [-45, 45] degrees) is rebuilt as a one-sided Gaussian-weighted line splatted bilinearly;
* fog: the plasma fractal is our own diamond-square on a periodic grid (same ``wibbledecay``);
* outputs are rounded to uint8 (the original truncates, which turns 2.9999 into 2).

Every function maps uint8 images [N, C, H, W] (C = 1 or 3) to uint8 of the same shape and is a
pure function of (images, severity, seed): ``corrupt(x, "fog", 3, seed=0)`` is reproducible
whatever was corrupted before it.
"""
from __future__ import annotations

import hashlib
import io
import math
from typing import Callable, Dict, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

Array = np.ndarray

# ----------------------------------------------------------------------------- severities
# (Hendrycks & Dietterich's CIFAR-10-C constants, one tuple entry per severity 1..5)
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)  # std on the 0..1 scale
SHOT_NOISE = (500, 250, 100, 75, 50)  # photons per unit intensity (Poisson rate)
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)  # fraction of values set to 0 or 1
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # (disk radius, alias blur)
MOTION_BLUR = ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3))  # (radius, sigma) in pixels
ZOOM_BLUR = tuple(np.arange(1, top, 0.01) for top in (1.06, 1.11, 1.16, 1.21, 1.26))  # zoom factors
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # factor on the deviation from the per-channel mean
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # box-downsampling factor
JPEG = (80, 65, 58, 50, 40)  # quality
ELASTIC = tuple((32 * a, 32 * s, 32 * f) for a, s, f in  # (displacement scale, smoothing sigma, affine jitter)
                ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)))
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # (strength, wibble decay)


def _rng(name: str, severity: int, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{name}:{severity}:{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ----------------------------------------------------------------------------- noise
def gaussian_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    return x + rng.normal(scale=GAUSSIAN_NOISE[s - 1], size=x.shape)


def shot_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    c = SHOT_NOISE[s - 1]
    return rng.poisson(x * c) / c


def impulse_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    """Salt and pepper on each value independently (as skimage's ``random_noise(mode='s&p')``)."""
    hit = rng.random(x.shape) < IMPULSE_NOISE[s - 1]
    salt = rng.random(x.shape) < 0.5
    x = x.copy()
    x[hit & salt], x[hit & ~salt] = 1.0, 0.0
    return x


# ----------------------------------------------------------------------------- blur
def _filter(x: Array, kernels: Array) -> Array:
    """Correlate each image with its own 2-D kernel ([N, k, k] or [k, k]), borders reflected
    without repeating the edge (OpenCV's default BORDER_REFLECT_101, torch's 'reflect')."""
    n, c, h, w = x.shape
    k = np.broadcast_to(kernels, (n,) + kernels.shape[-2:])
    r = k.shape[-1] // 2
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, n * c, h, w)
    t = F.pad(t, (r, r, r, r), mode="reflect")
    weight = torch.from_numpy(np.repeat(k, c, axis=0).astype(np.float32))[:, None]
    return F.conv2d(t, weight, groups=n * c).reshape(n, c, h, w).numpy().astype(np.float64)


def _disk(radius: float, alias_blur: float) -> Array:
    """An anti-aliased disk: 17x17 (Hendrycks' ``disk`` for radius <= 8), blurred by a 3x3 Gaussian."""
    L = np.arange(-8, 9)
    X, Y = np.meshgrid(L, L)
    d = (X ** 2 + Y ** 2 <= radius ** 2).astype(np.float64)
    d /= d.sum()
    g = np.exp(-np.arange(-1, 2) ** 2 / (2 * alias_blur ** 2))
    g /= g.sum()
    d = ndimage.convolve1d(d, g, axis=0, mode="mirror")
    return ndimage.convolve1d(d, g, axis=1, mode="mirror")


def defocus_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    return _filter(x, _disk(*DEFOCUS_BLUR[s - 1]))


def _motion_kernel(radius: int, sigma: float, angle_deg: float) -> Array:
    """One-sided line of Gaussian weights exp(-i^2 / 2 sigma^2), i = 0..radius, along ``angle``."""
    size = 2 * radius + 1
    k = np.zeros((size, size))
    a = math.radians(angle_deg)
    for i in range(radius + 1):
        wgt = math.exp(-i * i / (2 * sigma * sigma))
        y, x = radius + i * math.sin(a), radius + i * math.cos(a)
        y0, x0 = int(math.floor(y)), int(math.floor(x))
        fy, fx = y - y0, x - x0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += wgt * wy * wx
    return k / k.sum()


def motion_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    radius, sigma = MOTION_BLUR[s - 1]
    radius = min(radius, x.shape[-1] - 1)  # reflect padding needs the kernel to fit the image
    angles = rng.uniform(-45, 45, size=len(x))
    return _filter(x, np.stack([_motion_kernel(radius, sigma, a) for a in angles]))


def _zoom(t: torch.Tensor, factor: float) -> torch.Tensor:
    """Crop the centre 1/factor of the image and scale it back up (Hendrycks' ``clipped_zoom``)."""
    h, w = t.shape[-2:]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = t[..., top:top + ch, left:left + cw]
    zh, zw = round(ch * factor), round(cw * factor)
    up = F.interpolate(crop, size=(zh, zw), mode="bilinear", align_corners=True)
    th, tw = (zh - h) // 2, (zw - w) // 2
    return up[..., th:th + h, tw:tw + w]


def zoom_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    t = torch.from_numpy(x.astype(np.float32))
    factors = ZOOM_BLUR[s - 1]
    out = t.clone()
    for z in factors:
        out += _zoom(t, float(z))
    return (out / (len(factors) + 1)).numpy().astype(np.float64)


# ----------------------------------------------------------------------------- weather / digital
def brightness(x: Array, s: int, rng: np.random.Generator, shift: Optional[float] = None) -> Array:
    """Add ``c`` to the HSV value channel. With hue and saturation fixed, RGB is proportional to V,
    so this is a rescale by V'/V; a black pixel (V=0, S=0) becomes grey V'."""
    c = BRIGHTNESS[s - 1] if shift is None else shift
    v = x.max(axis=1, keepdims=True)
    v_new = np.clip(v + c, 0.0, 1.0)
    scale = np.divide(v_new, v, out=np.zeros_like(v), where=v > 0)
    return np.where(v > 0, x * scale, v_new)


def contrast(x: Array, s: int, rng: np.random.Generator) -> Array:
    means = x.mean(axis=(2, 3), keepdims=True)
    return (x - means) * CONTRAST[s - 1] + means


def _pil_roundtrip(x: Array, fn: Callable[[Image.Image], Image.Image]) -> Array:
    u8 = _to_uint8(x)
    out = np.empty_like(u8)
    for i, img in enumerate(u8):
        pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        arr = np.asarray(fn(pil))
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out.astype(np.float64) / 255.0


def pixelate(x: Array, s: int, rng: np.random.Generator) -> Array:
    c = PIXELATE[s - 1]

    def fn(img: Image.Image) -> Image.Image:
        w, h = img.size
        return img.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX)

    return _pil_roundtrip(x, fn)


def jpeg_compression(x: Array, s: int, rng: np.random.Generator) -> Array:
    def fn(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=JPEG[s - 1])
        return Image.open(io.BytesIO(buf.getvalue())).convert(img.mode)

    return _pil_roundtrip(x, fn)


def _affine_from_points(src: Array, dst: Array) -> Array:
    """The 2x3 matrix M with M @ [p, 1] = q for three point pairs (OpenCV's getAffineTransform)."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def elastic_transform(x: Array, s: int, rng: np.random.Generator) -> Array:
    """A random affine warp of three points, then a smooth random displacement field."""
    alpha, sigma, jitter = ELASTIC[s - 1]
    n, c, h, w = x.shape
    centre, half = np.array([w // 2, h // 2], float), min(h, w) // 3
    src = np.array([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.empty_like(x)
    for i in range(n):
        dst = src + rng.uniform(-jitter, jitter, size=src.shape)
        inv = np.linalg.inv(np.vstack([_affine_from_points(src, dst), [0, 0, 1]]))  # output -> input
        ax = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
        ay = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
        dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="reflect", truncate=3) * alpha
        dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="reflect", truncate=3) * alpha
        for ch in range(c):
            warped = ndimage.map_coordinates(x[i, ch], [ay, ax], order=1, mode="mirror")
            out[i, ch] = ndimage.map_coordinates(warped, [yy + dy, xx + dx], order=1, mode="reflect")
    return out


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> Array:
    """Diamond-square fractal noise on a periodic ``size`` x ``size`` grid (size a power of 2),
    scaled to [0, 1]. Each halving of the step divides the noise amplitude by ``decay``, so a
    smaller decay gives more high-frequency detail (a patchier fog)."""
    m = np.zeros((size, size))
    step, amp = size, 100.0
    while step >= 2:
        half = step // 2
        corners = m[0::step, 0::step]
        centre = (corners + np.roll(corners, -1, 0) + np.roll(corners, -1, 1) + np.roll(corners, (-1, -1), (0, 1))) / 4
        m[half::step, half::step] = centre + amp * rng.uniform(-1, 1, centre.shape)
        d = m[half::step, half::step]
        top = (corners + np.roll(corners, -1, 1) + d + np.roll(d, 1, 0)) / 4  # (i*step, j*step + half)
        left = (corners + np.roll(corners, -1, 0) + d + np.roll(d, 1, 1)) / 4  # (i*step + half, j*step)
        m[0::step, half::step] = top + amp * rng.uniform(-1, 1, top.shape)
        m[half::step, 0::step] = left + amp * rng.uniform(-1, 1, left.shape)
        step, amp = half, amp / decay
    m -= m.min()
    return m / max(m.max(), 1e-12)


def fog(x: Array, s: int, rng: np.random.Generator) -> Array:
    strength, decay = FOG[s - 1]
    n, c, h, w = x.shape
    size = 2 ** math.ceil(math.log2(max(h, w, 2)))  # diamond-square needs a power of 2
    out = np.empty_like(x)
    for i in range(n):
        max_val = x[i].max()
        fogged = x[i] + strength * plasma_fractal(size, decay, rng)[:h, :w][None]
        out[i] = fogged * max_val / (max_val + strength)
    return out


# ----------------------------------------------------------------------------- registry
CORRUPTIONS: Dict[str, Callable[[Array, int, np.random.Generator], Array]] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
    "brightness": brightness, "contrast": contrast, "pixelate": pixelate, "jpeg_compression": jpeg_compression,
    "elastic_transform": elastic_transform, "fog": fog,
}
SEVERITIES = (1, 2, 3, 4, 5)


def _to_uint8(x: Array) -> Array:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def corrupt(images: Union[torch.Tensor, Array], name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """``images`` uint8 [N, C, H, W] -> the corrupted uint8 tensor; deterministic in (name, severity, seed)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity}")
    x = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"corrupt expects uint8 [N, C, H, W] images, got {x.dtype} {x.shape}")
    out = CORRUPTIONS[name](x.astype(np.float64) / 255.0, severity, _rng(name, severity, seed))
    return torch.from_numpy(_to_uint8(out))
