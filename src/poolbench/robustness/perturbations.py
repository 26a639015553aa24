"""The CIFAR-10-P perturbation sequences (Hendrycks & Dietterich, ICLR 2019, section 3), as their
generator ``make_cifar_p.py`` (github.com/hendrycks/robustness) builds them for 32x32 RGB images.

A sequence is T frames of one image. Two kinds, which the flip probability treats differently:

* noise sequences (``NOISE``): frame 0 is the clean image and frames 1..30 are independent noisy
  copies of it (Gaussian noise std 0.02 / 0.04 / 0.06, shot noise rate 700 / 400 / 200, speckle
  std 0.05 / 0.07 / 0.1: three difficulty files each, ``<name>``, ``<name>_2``, ``<name>_3``);
* motion sequences: each frame moves one small step further:
  ``motion_blur`` 21 frames, ImageMagick radius 6 sigma 1.8 at angles -180..0 in steps of 9 deg;
  ``zoom_blur`` 31 frames, frame i the running mean of the clean image zoomed by 1 + 0.004 j, j <= i;
  ``snow`` 31 frames, one flake layer blurred (radius 10, sigma 2) at angles -150..-30 in steps of 4;
  ``brightness`` 31 frames, HSV value + (i - 15) * 0.015;
  ``translate`` 16 frames, shifts -7..+8 px (nearest); ``rotate`` 31 frames, -15..15 deg;
  ``tilt`` 31 frames, a perspective tilt of 0.75 (i - 15) deg about both axes; ``scale`` 31 frames,
  zoom 0.70..1.30 in steps of 0.02; extras ``gaussian_blur`` (sigma 0.3 + 0.015 i, 31 frames),
  ``spatter`` (a water layer flowing down, 31 frames; a frame with no water left above the uint8
  threshold is black, the generator's 0 / 0 stored as 0), ``shear`` (-15..15 deg, 31 frames).
  Geometric frames are black where the source falls outside the image.

The benchmark's 10 perturbations (``STANDARD``, the ones mFR averages) and the 4 held-out extras
(``EXTRAS``) are those of the paper; each frame is converted to uint8 by truncation, as the generator
does. Random draws come from ``image_rng`` per image and sequence (seeded, so a set regenerates bit
for bit; equal in distribution to the released files, not image for image).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import opencv_equiv as cv
from .corruptions import add_water, check_image, clipped_zoom, image_rng, spatter_mask, whiten
from .imagemagick import motion_blur
from .skimage_equiv import gaussian, hsv_to_rgb, rgb_to_hsv
from .torchvision_affine import affine

Array = np.ndarray
NOISE_FRAMES = 30  # noisy frames after the clean one


def _noise_sequence(x: Array, noisy: Callable[[], Array]) -> Array:
    return np.stack([x] + [noisy() for _ in range(NOISE_FRAMES)])


def gaussian_noise_seq(std: float):
    def make(x: Array, rng: np.random.Generator) -> Array:
        t = x.astype(np.float32) / np.float32(255)  # torchvision's ToTensor

        def noisy() -> Array:
            z = t + np.float32(std) * rng.standard_normal(t.shape, dtype=np.float32)
            return np.uint8(np.clip(z, 0, 1) * np.float32(255))  # to_numpy: truncation

        return _noise_sequence(x, noisy)

    return make


def shot_noise_seq(rate: float):
    def make(x: Array, rng: np.random.Generator) -> Array:
        z = x / 255.0
        return _noise_sequence(x, lambda: np.uint8(255 * np.clip(rng.poisson(z * rate) / rate, 0, 1)))

    return make


def speckle_noise_seq(std: float):
    def make(x: Array, rng: np.random.Generator) -> Array:
        z = x / 255.0
        return _noise_sequence(x, lambda: np.uint8(255 * np.clip(z + z * rng.normal(size=z.shape, scale=std), 0, 1)))

    return make


def motion_blur_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([motion_blur(x, 6, 1.8, (i - 20) * 9) for i in range(21)])


def zoom_blur_seq(x: Array, rng: np.random.Generator) -> Array:
    frames = [x]
    avg = x.astype(np.float32) / np.float32(255)
    for i in range(1, 31):
        avg = avg + affine(x, scale=1 + 0.004 * i).astype(np.float32) / np.float32(255)
        frames.append((avg / np.float32(i + 1) * np.float32(255)).astype(np.uint8))  # ToPILImage truncates
    return np.stack(frames)


def snow_seq(x: Array, rng: np.random.Generator) -> Array:
    z = x / 255.0
    layer = rng.normal(size=(32, 32), loc=0.05, scale=0.3)
    layer = clipped_zoom(layer[..., None], 2)
    layer[layer < 0.5] = 0
    layer = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    base = whiten(z, 0.85)
    frames = []
    for i in range(31):
        flakes = (motion_blur(layer, 10, 2, i * 4 - 150) / 255.0)[..., None]
        frames.append(np.uint8(np.clip(base + flakes + np.rot90(flakes, k=2), 0, 1) * 255))
    return np.stack(frames)


def brightness_seq(x: Array, rng: np.random.Generator) -> Array:
    hsv = rgb_to_hsv(x / 255.0)
    frames = []
    for i in range(31):
        h = hsv.copy()
        h[..., 2] = np.clip(h[..., 2] + (i - 15) * 1.5 / 100.0, 0, 1)
        frames.append(np.uint8(hsv_to_rgb(h) * 255))
    return np.stack(frames)


def translate_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([affine(x, translate=(i - 7, 0), bilinear=False) for i in range(16)])


def rotate_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([affine(x, angle=i - 15) for i in range(31)])


def tilt_matrix(degrees: float, h: int = 32, w: int = 32) -> Array:
    """The 3x3 homography of a tilt by ``degrees`` about the x and y axes: centre, rotate in 3-D,
    push back by the focal length f = sqrt(w^2 + h^2), project with focal length f."""
    a = np.deg2rad(degrees)  # the same angle about both axes
    f = np.sqrt(w**2 + h**2)
    to_3d = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]])
    c, s = np.cos(a), np.sin(a)
    rx = np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]])
    ry = np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]])
    push = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]])
    project = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]])
    return project @ push @ rx @ ry @ to_3d


def tilt_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([cv.warp_perspective(x, tilt_matrix(0.75 * (i - 15))) for i in range(31)])


def scale_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([affine(x, scale=(i * 2 + 70) / 100.0) for i in range(31)])


def gaussian_blur_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([np.uint8(255 * gaussian(x / 255.0, 0.3 + 0.015 * i, truncate=7.0)) for i in range(31)])


def spatter_seq(x: Array, rng: np.random.Generator) -> Array:
    z = x.astype(np.float32) / np.float32(255)
    liquid = gaussian(rng.normal(size=(32, 32), loc=0.6, scale=0.265), 1.75)
    liquid[liquid < 0.7] = 0
    frames = []
    for _ in range(31):
        frames.append(np.uint8(add_water(z, spatter_mask((liquid * 255).astype(np.uint8)), 0.6) * 255))
        # the layer flows down one step: each column convolved with [0.2, 0.8] ('same'): 0.2 v[k] + 0.8 v[k-1]
        liquid = 0.2 * liquid + 0.8 * np.vstack([np.zeros((1, liquid.shape[1])), liquid[:-1]])
    return np.stack(frames)


def shear_seq(x: Array, rng: np.random.Generator) -> Array:
    return np.stack([affine(x, shear=i - 15) for i in range(31)])


Maker = Callable[[Array, np.random.Generator], Array]
# file name -> (perturbation it belongs to, maker); the _2 / _3 files are harder noise difficulties
SEQUENCES: dict[str, tuple[str, Maker]] = {
    "gaussian_noise": ("gaussian_noise", gaussian_noise_seq(0.02)),
    "gaussian_noise_2": ("gaussian_noise", gaussian_noise_seq(0.04)),
    "gaussian_noise_3": ("gaussian_noise", gaussian_noise_seq(0.06)),
    "shot_noise": ("shot_noise", shot_noise_seq(700)),
    "shot_noise_2": ("shot_noise", shot_noise_seq(400)),
    "shot_noise_3": ("shot_noise", shot_noise_seq(200)),
    "motion_blur": ("motion_blur", motion_blur_seq),
    "zoom_blur": ("zoom_blur", zoom_blur_seq),
    "snow": ("snow", snow_seq),
    "brightness": ("brightness", brightness_seq),
    "translate": ("translate", translate_seq),
    "rotate": ("rotate", rotate_seq),
    "tilt": ("tilt", tilt_seq),
    "scale": ("scale", scale_seq),
    "speckle_noise": ("speckle_noise", speckle_noise_seq(0.05)),
    "speckle_noise_2": ("speckle_noise", speckle_noise_seq(0.07)),
    "speckle_noise_3": ("speckle_noise", speckle_noise_seq(0.1)),
    "gaussian_blur": ("gaussian_blur", gaussian_blur_seq),
    "spatter": ("spatter", spatter_seq),
    "shear": ("shear", shear_seq),
}
STANDARD: list[str] = [
    "gaussian_noise",
    "shot_noise",
    "motion_blur",
    "zoom_blur",
    "snow",
    "brightness",
    "translate",
    "rotate",
    "tilt",
    "scale",
]
EXTRAS: list[str] = ["speckle_noise", "gaussian_blur", "spatter", "shear"]
PERTURBATIONS: list[str] = STANDARD + EXTRAS
NOISE = {"gaussian_noise", "shot_noise", "speckle_noise"}  # compared with the clean first frame


def files_of(perturbation: str) -> list[str]:
    """The sequence files of a perturbation (three difficulties for the noises, one otherwise)."""
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {perturbation!r}; valid: {', '.join(PERTURBATIONS)}")
    return [f for f, (p, _) in SEQUENCES.items() if p == perturbation]


def is_noise(name: str) -> bool:
    """Noise sequences are not temporally related (flip probability against frame 0)."""
    return SEQUENCES[name][0] in NOISE if name in SEQUENCES else name in NOISE


def sequence(x: Array, name: str, rng: np.random.Generator) -> Array:
    """uint8 [32, 32, 3] -> the uint8 [T, 32, 32, 3] sequence of file ``name``."""
    if name not in SEQUENCES:
        raise ValueError(f"unknown perturbation sequence {name!r}; valid: {', '.join(SEQUENCES)}")
    check_image(x)
    return SEQUENCES[name][1](x, rng)


def perturb(images: Array, name: str, seed: int = 0, start: int = 0) -> Array:
    """uint8 [N, 32, 32, 3] -> uint8 [N, T, 32, 32, 3] (the released files' layout)."""
    return np.stack([sequence(img, name, image_rng(seed, name, 0, start + i)) for i, img in enumerate(images)])
