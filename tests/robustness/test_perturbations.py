"""Golden tests of the CIFAR-10-P sequences: frame counts, ranges and border handling of
make_cifar_p.py, each frame recomputed here from the generator's formula (Pillow's bilinear rule,
ImageMagick's motion kernel, colorsys HSV, ...) with the same random draws."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest

from poolbench.robustness import perturbations as P
from poolbench.robustness.corruptions import image_rng
from tests.robustness.test_corruptions import centre_zoom, close, magick_blur, smooth


def seq(name, x, i=0):
    return P.sequence(x, name, image_rng(3, name, 0, i))


def rng_for(name, i=0):
    return image_rng(3, name, 0, i)


def pillow_affine(img, angle=0.0, translate=(0, 0), scale=1.0, shear=0.0, nearest=False):
    """torchvision<=0.7's affine on Pillow, written out: rotate/scale/shear about (w/2 + 1/2, h/2 + 1/2);
    Pillow samples output pixel (x, y) at M (x + 1/2, y + 1/2), black outside [0, w) x [0, h),
    bilinear between pixel centres with edge clamping, truncated to uint8."""
    h, w = img.shape[:2]
    a, sh = math.radians(angle), math.radians(shear)
    cx, cy = w / 2 + 0.5, h / 2 + 0.5
    # forward map: the inverse of torchvision's [[cos(a+sh), sin(a+sh)], [-sin a, cos a]] / (d scale)
    rot = np.array([[math.cos(a), -math.sin(a + sh)], [math.sin(a), math.cos(a + sh)]]) * scale
    inv = np.linalg.inv(rot)
    out = np.zeros(img.shape)
    f = img.astype(np.float64)

    def clampi(v, n):
        return min(max(v, 0), n - 1)

    for y in range(h):
        for x in range(w):
            u = inv @ np.array([x + 0.5 - cx - translate[0], y + 0.5 - cy - translate[1]])
            xi, yi = u[0] + cx, u[1] + cy
            if xi < 0 or xi >= w or yi < 0 or yi >= h:
                continue
            if nearest:
                out[y, x] = f[int(math.floor(yi)), int(math.floor(xi))]
                continue
            xi, yi = xi - 0.5, yi - 0.5
            x0, y0 = math.floor(xi), math.floor(yi)
            fx, fy = xi - x0, yi - y0
            r0 = f[clampi(y0, h), clampi(x0, w)] * (1 - fx) + f[clampi(y0, h), clampi(x0 + 1, w)] * fx
            r1 = (f[y0 + 1, clampi(x0, w)] * (1 - fx) + f[y0 + 1, clampi(x0 + 1, w)] * fx) if 0 <= y0 + 1 < h else r0
            out[y, x] = r0 * (1 - fy) + r1 * fy
    return np.floor(out + 1e-9).astype(np.uint8)


def test_the_benchmark_and_the_extras():
    assert P.STANDARD == [
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
    assert P.EXTRAS == ["speckle_noise", "gaussian_blur", "spatter", "shear"]
    assert P.files_of("shot_noise") == ["shot_noise", "shot_noise_2", "shot_noise_3"]
    assert P.is_noise("speckle_noise_2") and not P.is_noise("translate")


@pytest.mark.parametrize(
    "name,frames",
    [
        ("gaussian_noise", 31),
        ("motion_blur", 21),
        ("translate", 16),
        ("rotate", 31),
        ("tilt", 31),
        ("scale", 31),
        ("spatter", 31),
    ],
)
def test_frame_counts(images, name, frames):
    s = seq(name, images[0])
    assert s.shape == (frames, 32, 32, 3) and s.dtype == np.uint8


def test_noise_sequences_start_clean_and_draw_each_frame(images):
    x = images[0]
    for name, level in (("gaussian_noise", 0.02), ("gaussian_noise_3", 0.06)):
        s, r = seq(name, x), rng_for(name)
        assert np.array_equal(s[0], x)
        t = x.astype(np.float32) / np.float32(255)
        for j in range(1, 31):
            z = np.clip(t + np.float32(level) * r.standard_normal(t.shape, dtype=np.float32), 0, 1) * np.float32(255)
            close(s[j], np.uint8(z))
    s, r = seq("shot_noise_2", x), rng_for("shot_noise_2")
    z = x / 255
    for j in range(1, 31):
        close(s[j], np.uint8(255 * np.clip(r.poisson(z * 400) / 400, 0, 1)))
    s, r = seq("speckle_noise", x), rng_for("speckle_noise")
    for j in range(1, 31):
        close(s[j], np.uint8(255 * np.clip(z + z * r.normal(size=z.shape, scale=0.05), 0, 1)))


def test_translate_shifts_minus_7_to_8_with_black_borders(images):
    x = images[1]
    s = seq("translate", x)
    for i in range(16):
        shift = i - 7
        expect = np.zeros_like(x)
        if shift >= 0:
            expect[:, shift:] = x[:, : 32 - shift]
        else:
            expect[:, :shift] = x[:, -shift:]
        assert np.array_equal(s[i], expect), shift
        assert np.array_equal(s[i], pillow_affine(x, translate=(shift, 0), nearest=True))


@pytest.mark.parametrize(
    "name,kw",
    [
        ("rotate", lambda i: dict(angle=i - 15)),
        ("scale", lambda i: dict(scale=(2 * i + 70) / 100)),
        ("shear", lambda i: dict(shear=i - 15)),
    ],
)
def test_geometric_sequences(images, name, kw):
    x = images[2]
    s = seq(name, x)
    for i in (0, 7, 15, 30):
        close(s[i], pillow_affine(x, **kw(i)), frac=0.03)  # samples on exact half pixels may truncate apart
    assert (s[0] == 0).all(-1).any() if name != "scale" else (s[0] == 0).all(-1).any()  # black corners
    assert np.array_equal(s[15], x)  # the identity frame


def test_tilt(images):
    """The reference's homography, sampled bilinearly with black outside (OpenCV's 1/32-pixel grid not
    reproduced: values agree to a few levels, most exactly)."""
    x = images[0].astype(np.float64)
    s = seq("tilt", images[0])
    for i in (0, 15, 30):
        deg = math.radians(0.75 * (i - 15))
        h = w = 32
        f = math.sqrt(w * w + h * h)
        c, sn = math.cos(deg), math.sin(deg)
        p1 = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]])
        rx = np.array([[1, 0, 0, 0], [0, c, -sn, 0], [0, sn, c, 0], [0, 0, 0, 1]])
        ry = np.array([[c, 0, -sn, 0], [0, 1, 0, 0], [sn, 0, c, 0], [0, 0, 0, 1]])
        t = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]])
        p2 = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]])
        inv = np.linalg.inv(p2 @ t @ rx @ ry @ p1)
        out = np.zeros_like(x)
        for yy in range(32):
            for xx in range(32):
                u = inv @ [xx, yy, 1.0]
                sx, sy = u[0] / u[2], u[1] / u[2]
                x0, y0 = math.floor(sx), math.floor(sy)
                fx, fy = sx - x0, sy - y0
                for oy, ox, wt in (
                    (0, 0, (1 - fy) * (1 - fx)),
                    (0, 1, (1 - fy) * fx),
                    (1, 0, fy * (1 - fx)),
                    (1, 1, fy * fx),
                ):
                    if 0 <= y0 + oy < 32 and 0 <= x0 + ox < 32:
                        out[yy, xx] += wt * x[y0 + oy, x0 + ox]
        d = np.abs(s[i].astype(int) - np.rint(out))
        assert d.max() <= 6 and d.mean() < 0.6, (i, d.max(), d.mean())


def test_brightness_sequence(images):
    x = images[1]
    s = seq("brightness", x)
    for i in (0, 15, 30):
        c = (i - 15) * 1.5 / 100
        expect = np.empty(x.shape)
        for a in range(32):
            for b in range(32):
                h, sa, v = colorsys.rgb_to_hsv(*(x[a, b] / 255))
                expect[a, b] = colorsys.hsv_to_rgb(h, sa, min(max(v + c, 0), 1))
        close(s[i], np.uint8(expect * 255), frac=0.01)


def test_motion_blur_sequence(images):
    x = images[0]
    s = seq("motion_blur", x)
    for i in (0, 10, 20):
        close(s[i], magick_blur(x, 6, 1.8, (i - 20) * 9))


def test_zoom_blur_sequence(images):
    x = images[2]
    s = seq("zoom_blur", x)
    assert np.array_equal(s[0], x)
    avg = x.astype(np.float32) / np.float32(255)  # ToTensor's float32, summed in float32
    for i in range(1, 31):
        avg = avg + pillow_affine(x, scale=1 + 0.004 * i).astype(np.float32) / np.float32(255)
        if i in (1, 30):
            close(s[i], np.uint8(avg / np.float32(i + 1) * np.float32(255)), frac=0.01)


def test_snow_sequence(images):
    x = images[0] / 255
    s, r = seq("snow", images[0]), rng_for("snow")
    layer = centre_zoom(r.normal(size=(32, 32), loc=0.05, scale=0.3)[..., None], 2)[..., 0]
    layer[layer < 0.5] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    base = 0.85 * x + 0.15 * np.maximum(x, grey[..., None] * 1.5 + 0.5)
    for i in (0, 30):
        flakes = magick_blur(layer, 10, 2, i * 4 - 150) / 255
        close(s[i], np.uint8(np.clip(base + flakes[..., None] + flakes[::-1, ::-1, None], 0, 1) * 255), frac=0.01)


def test_gaussian_blur_sequence(images):
    x = images[1] / 255
    s = seq("gaussian_blur", images[1])
    for i in (0, 30):
        close(s[i], np.uint8(255 * smooth(x, 0.3 + 0.015 * i, truncate=7.0)), frac=0.01)


def reference_water_frame(x_u8, mask, strength=0.6):
    """make_cifar_p.py's spatter frame from its mask, with NumPy's semantics written out: the mask
    to a colour image (GRAY2BGRA; the alpha channel, dropped at the end, is left out here),
    ``m /= np.max(m, axis=(0, 1))`` (0 / 0 = NaN for an all-zero mask), ``m *= 0.6``, then
    ``np.uint8(np.clip(x + m * colour, 0, 1) * 255)``."""
    x = x_u8.astype(np.float32) / np.float32(255)
    m = np.repeat(mask.astype(np.float32)[..., None], 3, axis=-1)
    colour = np.array([175, 238, 238], dtype=np.float32) / np.float32(255)
    with np.errstate(all="ignore"):
        m /= np.max(m, axis=(0, 1))
        m *= strength
        return np.uint8(np.clip(x + m * colour, 0, 1) * 255)


class ConstantNormal:
    """A generator whose normal draws are one constant field (a liquid layer of that height)."""

    def __init__(self, level):
        self.level = level

    def normal(self, size, loc=0.0, scale=1.0):
        return np.full(size, float(self.level))


def test_spatter_frames_without_water_are_black_as_the_generator_stores_them(images):
    # liquid 0 everywhere: the mask (liquid_u8 * dist) is all zero in every frame
    dry = P.sequence(images[0], "spatter", ConstantNormal(0.0))
    expect = reference_water_frame(images[0], np.zeros((32, 32)))
    assert not expect.any()  # the generator's NaN frame, stored as 0: black, not the clean image
    assert dry.shape == (31, 32, 32, 3) and all(np.array_equal(f, expect) for f in dry)


def test_spatter_water_drains_to_black_frames_within_a_real_sequence(images):
    # image 16 of this stream: the water flows down and out; from some frame on its uint8 layer is 0
    liquid = smooth(rng_for("spatter", 16).normal(size=(32, 32), loc=0.6, scale=0.265), 1.75)
    liquid[liquid < 0.7] = 0
    dry = []
    for _ in range(31):
        dry.append(not (liquid * 255).astype(np.uint8).any())
        liquid = 0.2 * liquid + 0.8 * np.vstack([np.zeros((1, 32)), liquid[:-1]])
    assert any(dry) and not all(dry)
    s = seq("spatter", images[0], i=16)
    black = reference_water_frame(images[0], np.zeros((32, 32)))
    for frame, is_dry in zip(s, dry, strict=True):
        if is_dry:
            assert np.array_equal(frame, black)
        elif frame.any():  # a little liquid whose mask (liquid_u8 * dist) is still 0 gives black too
            assert (frame.astype(int) >= images[0]).all()  # water only adds
    assert s[0].any()


def test_spatter_sequence_flows_down(images):
    s = seq("spatter", images[0]).astype(int)
    assert (s >= images[0]).all()  # water only adds (this stream's water never drains away)
    added = (s - images[0]).sum(-1)
    rows = np.arange(32)
    centre = [(added[t] * rows[:, None]).sum() / max(added[t].sum(), 1) for t in (0, 30)]
    assert added[0].sum() == 0 or centre[1] >= centre[0]


def test_sequences_are_seeded(images):
    a = P.perturb(images[:2], "snow", seed=1)
    assert np.array_equal(a, P.perturb(images[:2], "snow", seed=1))
    assert np.array_equal(a[1:], P.perturb(images[1:2], "snow", seed=1, start=1))
    assert not np.array_equal(a, P.perturb(images[:2], "snow", seed=2))
    with pytest.raises(ValueError, match="unknown perturbation"):
        P.files_of("wobble")
