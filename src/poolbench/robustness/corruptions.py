"""The CIFAR-10-C corruptions (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", ICLR 2019), as their generator ``make_cifar_c.py``
(github.com/hendrycks/robustness) defines them for 32x32 RGB images: the 15 benchmark corruptions
(``STANDARD``, the ones mCE averages) and the 4 held-out extras (``EXTRAS``), each at severities
1-5 with the generator's CIFAR constants.

Each corruption maps one uint8 [32, 32, 3] image to values on the 0..255 scale; ``corrupt_image``
then converts to uint8 by truncation (``np.uint8(x)``, as the generator does: 2.9999 -> 2). The
library calls of the generator are re-derived in ``skimage_equiv`` (HSV, Gaussian smoothing,
salt-and-pepper), ``opencv_equiv`` (warps, Canny, distance transform, ...) and ``imagemagick``
(motion blur); Pillow (JPEG, box resize) and scipy (``zoom``, ``map_coordinates``) are called as the
generator calls them. Where the generator's code does something other than its comments say, we do
what the code does: ``glass_blur``'s "swap" copies the neighbour into the pixel (the numpy views
alias), and ``frost`` draws from the first five of its six photographs.

Random draws come from a numpy ``Generator`` per image (``image_rng``: seed, corruption, severity,
image index), so any slice of a set regenerates bit for bit on its own. The draws follow the
generator's in kind and order; its own stream (numpy's global state) is not reproduced, so a
regenerated set is equal in distribution to the released one, not equal to it image for image.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from . import opencv_equiv as cv
from .frost import frost_pictures
from .imagemagick import motion_blur as magick_motion_blur
from .skimage_equiv import gaussian, hsv_to_rgb, rgb_to_hsv, salt_and_pepper

IMAGE_SHAPE = (32, 32, 3)

# ----------------------------------------------------------------------------- severities
# make_cifar_c.py's CIFAR constants, one entry per severity 1..5
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)  # std on the 0..1 scale
SHOT_NOISE = (500, 250, 100, 75, 50)  # Poisson rate per unit intensity
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)  # fraction of values set to 0 or 1
SPECKLE_NOISE = (0.06, 0.1, 0.12, 0.16, 0.2)  # std of the multiplicative noise
GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)  # sigma
GLASS_BLUR = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # (sigma, max shift, passes)
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # (disk radius, alias blur)
MOTION_BLUR = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))  # ImageMagick (radius, sigma)
ZOOM_BLUR = tuple(np.arange(1, top, 0.01) for top in (1.06, 1.11, 1.16, 1.21, 1.26))  # zoom factors
SNOW = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
# (flake mean, flake std, zoom, threshold, blur radius, blur sigma, image weight)
FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # (image weight, frost weight)
FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # (strength, wibble decay)
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to HSV value
SATURATE = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))  # HSV saturation * a + b
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # factor on the deviation from the channel mean
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # box-downsampling factor
JPEG = (80, 65, 58, 50, 40)  # quality
ELASTIC = tuple(
    (32 * a, 32 * s, 32 * f)
    for a, s, f in (  # (displacement scale, smoothing sigma, affine jitter)
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    )
)
SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
# (liquid mean, liquid std, smoothing sigma, threshold, strength or mud sigma, 0 water / 1 mud)

Array = np.ndarray
Fn = Callable[[Array, int, np.random.Generator], Array]


def _f(x: Array) -> Array:
    return x.astype(np.float64) / 255.0


def _out(x: Array) -> Array:
    return np.clip(x, 0, 1) * 255


# ----------------------------------------------------------------------------- noise
def gaussian_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    x = _f(x)
    return _out(x + rng.normal(size=x.shape, scale=GAUSSIAN_NOISE[s - 1]))


def shot_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    c = SHOT_NOISE[s - 1]
    return _out(rng.poisson(_f(x) * c) / c)


def impulse_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    return _out(salt_and_pepper(_f(x), IMPULSE_NOISE[s - 1], rng))


def speckle_noise(x: Array, s: int, rng: np.random.Generator) -> Array:
    x = _f(x)
    return _out(x + x * rng.normal(size=x.shape, scale=SPECKLE_NOISE[s - 1]))


# ----------------------------------------------------------------------------- blur
def gaussian_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    return _out(gaussian(_f(x), GAUSSIAN_BLUR[s - 1]))


def glass_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    """Blur, then ``passes`` local pixel shuffles, then blur again. Each shuffle visits rows and
    columns h, w = 31 .. 2 in descending order and sets pixel (h, w) to pixel (h + dy, w + dx),
    dx, dy drawn from {-1, 0}; every pixel it reads is visited later, so it reads the pass's input
    and the pass is one gather."""
    sigma, delta, passes = GLASS_BLUR[s - 1]
    assert delta == 1, "the one-gather form holds for shifts in {-1, 0}"
    img = np.uint8(gaussian(_f(x), sigma) * 255)
    idx = np.arange(31, 1, -1)  # 31 .. 2, the visiting order
    for _ in range(passes):
        d = rng.integers(-delta, delta, size=(len(idx), len(idx), 2))  # (dx, dy) per visit
        src = img.copy()
        img[idx[:, None], idx[None, :]] = src[idx[:, None] + d[..., 1], idx[None, :] + d[..., 0]]
    return _out(gaussian(img / 255.0, sigma))


def _disk(radius: float, alias_blur: float) -> Array:
    """The anti-aliased disk kernel: 17x17 indicator of x^2 + y^2 <= r^2 (normalised, float32),
    smoothed by a 3x3 OpenCV Gaussian with sigma ``alias_blur``."""
    L = np.arange(-8, 9)
    X, Y = np.meshgrid(L, L)
    d = (radius**2 >= X**2 + Y**2).astype(np.float32)
    d /= np.sum(d)
    return cv.gaussian_blur(d, 3, alias_blur)


def defocus_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    x = _f(x)
    k = _disk(*DEFOCUS_BLUR[s - 1])
    return _out(np.stack([cv.correlate(x[..., c], k) for c in range(3)], -1))


def motion_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    radius, sigma = MOTION_BLUR[s - 1]
    return magick_motion_blur(x, radius, sigma, rng.uniform(-45, 45)).astype(np.float64)


def clipped_zoom(img: Array, factor: float) -> Array:
    """Zoom the centre ceil(h / factor) crop by ``factor`` (scipy ``zoom``, order 1) and cut the
    middle h x h (``clipped_zoom`` of the generator; [H, W, C])."""
    h = img.shape[0]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    out = ndimage.zoom(img[top : top + ch, top : top + ch], (factor, factor, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim : trim + h, trim : trim + h]


def zoom_blur(x: Array, s: int, rng: np.random.Generator) -> Array:
    x = _f(x).astype(np.float32)
    out = np.zeros_like(x)
    for z in ZOOM_BLUR[s - 1]:
        out += clipped_zoom(x, z)
    return _out((x + out) / (len(ZOOM_BLUR[s - 1]) + 1))


# ----------------------------------------------------------------------------- weather
def snow_layer(rng: np.random.Generator, mean: float, std: float, zoom: float, threshold: float) -> Array:
    """The flakes before motion blur: Gaussian noise, zoomed, thresholded, as a uint8 grey image."""
    layer = rng.normal(size=IMAGE_SHAPE[:2], loc=mean, scale=std)
    layer = clipped_zoom(layer[..., None], zoom)
    layer[layer < threshold] = 0
    return (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)


def whiten(x: Array, weight: float) -> Array:
    """Snow's overcast: w x + (1 - w) max(x, 1.5 grey(x) + 0.5), x float on 0..1."""
    grey = cv.rgb_to_gray(x)[..., None]
    return weight * x + (1 - weight) * np.maximum(x, grey * 1.5 + 0.5)


def snow(x: Array, s: int, rng: np.random.Generator) -> Array:
    mean, std, zoom, threshold, radius, sigma, weight = SNOW[s - 1]
    x = x.astype(np.float32) / np.float32(255)
    layer = snow_layer(rng, mean, std, zoom, threshold)
    flakes = (magick_motion_blur(layer, radius, sigma, rng.uniform(-135, -45)) / 255.0)[..., None]
    return _out(whiten(x, weight) + flakes + np.rot90(flakes, k=2))


def frost(x: Array, s: int, rng: np.random.Generator) -> Array:
    a, b = FROST[s - 1]
    picture = frost_pictures()[rng.integers(5)]  # the generator's randint(5): frost6 is never drawn
    top, left = rng.integers(0, picture.shape[0] - 32), rng.integers(0, picture.shape[1] - 32)
    return np.clip(a * x.astype(np.float64) + b * picture[top : top + 32, left : left + 32], 0, 255)


def plasma_fractal(rng: np.random.Generator, size: int = 32, decay: float = 3.0) -> Array:
    """Diamond-square height map on a periodic ``size`` x ``size`` grid, scaled to [0, 1].

    Each new point is the mean of its 4 neighbours plus ``wibble * U(-wibble, wibble)``, wibble
    starting at 100 and divided by ``decay`` per octave, so the noise amplitude (wibble^2) falls
    by decay^2 per octave. Per octave: the square centres first, then the edge midpoints of the
    rows, then those of the columns."""
    m = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = m[0::step, 0::step]
        square = (corners + np.roll(corners, -1, 0)) + np.roll(corners + np.roll(corners, -1, 0), -1, 1)
        m[half::step, half::step] = square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape)
        centres, corners = m[half::step, half::step], m[0::step, 0::step]
        row_mid = (centres + np.roll(centres, 1, 0)) + (corners + np.roll(corners, -1, 1))
        m[0::step, half::step] = row_mid / 4 + wibble * rng.uniform(-wibble, wibble, row_mid.shape)
        col_mid = (centres + np.roll(centres, 1, 1)) + (corners + np.roll(corners, -1, 0))
        m[half::step, 0::step] = col_mid / 4 + wibble * rng.uniform(-wibble, wibble, col_mid.shape)
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / m.max()


def fog(x: Array, s: int, rng: np.random.Generator) -> Array:
    strength, decay = FOG[s - 1]
    x = _f(x)
    top = x.max()
    x = x + strength * plasma_fractal(rng, 32, decay)[:32, :32][..., None]
    return _out(x * top / (top + strength))


def spatter_mask(liquid_u8: Array) -> Array:
    """Water spatter's intensity map from the uint8 liquid layer: distance to the layer's Canny
    edges (capped at 20, smoothed, equalised, embossed, smoothed) times the layer."""
    dist = cv.distance_transform_l2_5(255 - cv.canny(liquid_u8, 50, 150))
    dist = np.minimum(dist, np.float32(20))
    dist = cv.box_blur3(dist).astype(np.uint8)
    dist = cv.equalize_hist(dist)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    dist = np.clip(np.rint(cv.correlate(dist, emboss)), 0, 255).astype(np.uint8)
    dist = cv.box_blur3(dist).astype(np.float32)
    return liquid_u8 * dist


WATER = (np.array([175, 238, 238]) / 255.0).astype(np.float32)  # pale turquoise, on channels 0, 1, 2
MUD = (np.array([63, 42, 20]) / 255.0).astype(np.float32)  # float32 like the generator's colour planes


def add_water(x: Array, mask: Array, strength: float) -> Array:
    """x + strength * mask / max(mask) * WATER (x float32 on 0..1).

    Where the mask is all zero (no liquid left above the uint8 threshold) the generators compute
    ``m /= np.max(m)`` as 0 / 0: every pixel of every colour channel is NaN, ``np.clip`` keeps NaN, and
    ``np.uint8`` stores NaN as 0 (NumPy's cast on x86-64), so the released frame is black. The black
    frame is returned here directly rather than through a platform-dependent NaN cast."""
    top = mask.max()
    if top == 0:
        return np.zeros_like(x)
    return np.clip(x + (mask / top * np.float32(strength))[..., None] * WATER, 0, 1)


def spatter(x: Array, s: int, rng: np.random.Generator) -> Array:
    mean, std, sigma, threshold, strength, mud = SPATTER[s - 1]
    x = x.astype(np.float32) / np.float32(255)
    liquid = gaussian(rng.normal(size=IMAGE_SHAPE[:2], loc=mean, scale=std), sigma)
    liquid[liquid < threshold] = 0
    if mud == 0:
        return add_water(x, spatter_mask((liquid * 255).astype(np.uint8)), strength) * 255
    m = gaussian(np.where(liquid > threshold, 1, 0).astype(np.float32), strength)
    m[m < 0.8] = 0
    return _out(x * (1 - m[..., None]) + MUD * m[..., None])  # float32 throughout


# ----------------------------------------------------------------------------- digital
def brightness(x: Array, s: int, rng: np.random.Generator) -> Array:
    hsv = rgb_to_hsv(_f(x))
    hsv[..., 2] = np.clip(hsv[..., 2] + BRIGHTNESS[s - 1], 0, 1)
    return _out(hsv_to_rgb(hsv))


def saturate(x: Array, s: int, rng: np.random.Generator) -> Array:
    a, b = SATURATE[s - 1]
    hsv = rgb_to_hsv(_f(x))
    hsv[..., 1] = np.clip(hsv[..., 1] * a + b, 0, 1)
    return _out(hsv_to_rgb(hsv))


def contrast(x: Array, s: int, rng: np.random.Generator) -> Array:
    x = _f(x)
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return _out((x - means) * CONTRAST[s - 1] + means)


def pixelate(x: Array, s: int, rng: np.random.Generator) -> Array:
    side = int(32 * PIXELATE[s - 1])
    img = Image.fromarray(x).resize((side, side), Image.BOX).resize((32, 32), Image.BOX)
    return np.asarray(img)


def jpeg_compression(x: Array, s: int, rng: np.random.Generator) -> Array:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=JPEG[s - 1])
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def elastic_transform(x: Array, s: int, rng: np.random.Generator) -> Array:
    """A random affine warp (three points jittered by U(-c, c)), then a smooth random displacement
    field (U(-1, 1) smoothed by a Gaussian of sigma, times alpha) sampled bilinearly."""
    alpha, sigma, jitter = ELASTIC[s - 1]
    img = x.astype(np.float32) / np.float32(255)
    centre, half = np.float32(np.array([32, 32])) // 2, 32 // 3
    src = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    dst = src + rng.uniform(-jitter, jitter, size=src.shape).astype(np.float32)
    img = cv.warp_affine(img, cv.affine_from_points(src, dst), border="reflect101")
    fields = [
        (gaussian(rng.uniform(-1, 1, size=(32, 32)), sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
        for _ in range(2)
    ]
    dx, dy = fields[0][..., None], fields[1][..., None]
    xs, ys, zs = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
    coords = (ys + dy).reshape(-1, 1), (xs + dx).reshape(-1, 1), zs.reshape(-1, 1)
    return _out(ndimage.map_coordinates(img, coords, order=1, mode="reflect").reshape(img.shape))


# ----------------------------------------------------------------------------- registry
STANDARD: dict[str, Fn] = {  # the 15 of the benchmark, in the paper's order (mCE averages these)
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
}
EXTRAS: dict[str, Fn] = {
    "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "spatter": spatter,
    "saturate": saturate,
}
CORRUPTIONS: dict[str, Fn] = {**STANDARD, **EXTRAS}
SEVERITIES = (1, 2, 3, 4, 5)


def image_rng(seed: int, kind: str, level: int, index: int) -> np.random.Generator:
    """The random stream of image ``index`` under corruption / perturbation ``kind`` at ``level``."""
    code = int.from_bytes(hashlib.sha256(kind.encode()).digest()[:4], "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(code, level, index)))


def check_image(x: Array) -> None:
    if x.dtype != np.uint8 or x.shape != IMAGE_SHAPE:
        raise ValueError(
            f"the CIFAR-10-C/-P generators are defined on uint8 32x32 RGB images, got {x.dtype} "
            f"{tuple(x.shape)}: use a 32x32 RGB dataset (cifar10, cifar100, imagefolder of CIFAR)"
        )


def corrupt_image(x: Array, name: str, severity: int, rng: np.random.Generator) -> Array:
    """One uint8 [32, 32, 3] image -> its corrupted uint8 image (values truncated, as the generator)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity}")
    check_image(x)
    return np.uint8(CORRUPTIONS[name](x, severity, rng))


def corrupt(images: Array, name: str, severity: int, seed: int = 0, start: int = 0) -> Array:
    """uint8 [N, 32, 32, 3] -> corrupted uint8 [N, 32, 32, 3]; image i draws from
    ``image_rng(seed, name, severity, start + i)``."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"corrupt expects uint8 [N, 32, 32, 3] images, got {images.dtype} {images.shape}")
    out = np.empty_like(images)
    for i, img in enumerate(images):
        out[i] = corrupt_image(img, name, severity, image_rng(seed, name, severity, start + i))
    return out
