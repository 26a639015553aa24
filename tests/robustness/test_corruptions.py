"""Golden tests of the 19 CIFAR-10-C corruptions: each is recomputed here from make_cifar_c.py's
formula with plain loops / textbook formulas (not the project's helpers), on fixed images, with the
same random draws (``image_rng``), and compared value for value."""

from __future__ import annotations

import colorsys
import io
import math

import numpy as np
import pytest
from PIL import Image

from poolbench.robustness import corruptions as C
from poolbench.robustness import frost as frost_mod
from poolbench.robustness.corruptions import corrupt_image, image_rng


def run(name, s, x, i=0):
    return corrupt_image(x, name, s, image_rng(7, name, s, i))


def rng_for(name, s, i=0):
    return image_rng(7, name, s, i)


def close(a, b, max_diff=0, frac=0.0):
    """uint8 arrays equal up to ``max_diff`` in at most ``frac`` of the values (truncation of
    float sums summed in another order can move a value by one)."""
    d = np.abs(a.astype(int) - np.asarray(b).astype(int))
    assert d.max() <= max(max_diff, 1 if frac else 0), d.max()
    assert (d > max_diff).mean() <= frac if frac else d.max() <= max_diff, ((d > 0).mean(), d.max())


def gauss_kernel(sigma, truncate=4.0):
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum(), r


def smooth(img, sigma, mode="edge", truncate=4.0):
    """Separable Gaussian of [H, W] or [H, W, C], borders repeated ('edge') or mirrored ('symmetric')."""
    k, r = gauss_kernel(sigma, truncate)
    out = img.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode=mode)
        out = sum(k[j] * np.take(p, range(j, j + img.shape[axis]), axis=axis) for j in range(2 * r + 1))
    return out


def to_u8(v):
    return np.clip(v, 0, 1 if np.max(v) <= 1.0001 else 255).astype(np.float64)


# ----------------------------------------------------------------------------- noise
def test_gaussian_noise(images):
    x = images[0]
    for s in (1, 5):
        noise = rng_for("gaussian_noise", s).normal(size=x.shape, scale=(0.04, 0.06, 0.08, 0.09, 0.10)[s - 1])
        expect = np.uint8(np.clip(x / 255 + noise, 0, 1) * 255)
        close(run("gaussian_noise", s, x), expect)


def test_shot_noise(images):
    x = images[0]
    rate = 50
    expect = np.uint8(np.clip(rng_for("shot_noise", 5).poisson(x / 255 * rate) / rate, 0, 1) * 255)
    close(run("shot_noise", 5, x), expect)


def test_impulse_noise(images):
    x = images[0]
    r = rng_for("impulse_noise", 4)
    hit, salt = r.random(x.shape) < 0.05, r.random(x.shape) < 0.5
    expect = np.where(hit & salt, 255, np.where(hit, 0, x)).astype(np.uint8)
    close(run("impulse_noise", 4, x), expect)


def test_speckle_noise(images):
    x = images[1] / 255
    expect = np.uint8(np.clip(x + x * rng_for("speckle_noise", 3).normal(size=x.shape, scale=0.12), 0, 1) * 255)
    close(run("speckle_noise", 3, images[1]), expect)


# ----------------------------------------------------------------------------- blur
def test_gaussian_blur(images):
    for s, sigma in ((1, 0.4), (5, 1.0)):
        expect = np.uint8(np.clip(smooth(images[0] / 255, sigma), 0, 1) * 255)
        close(run("gaussian_blur", s, images[0]), expect, frac=0.01)


def test_glass_blur_copies_the_neighbour_as_the_reference_swap_does(images):
    x = images[2]
    for s in (2, 5):
        sigma, delta, passes = C.GLASS_BLUR[s - 1]
        r = rng_for("glass_blur", s)
        img = np.uint8(smooth(x / 255, sigma) * 255)
        for _ in range(passes):
            d = r.integers(-delta, delta, size=(30, 30, 2))
            for a, h in enumerate(range(31, 1, -1)):
                for b, w in enumerate(range(31, 1, -1)):
                    dx, dy = d[a, b]
                    img[h, w] = img[h + dy, w + dx].copy()  # numpy's aliased "swap" writes one side only
        expect = np.uint8(np.clip(smooth(img / 255, sigma), 0, 1) * 255)
        close(run("glass_blur", s, x), expect, frac=0.01)


def test_defocus_blur(images):
    x = images[0] / 255
    for s in (1, 4, 5):
        radius, alias = C.DEFOCUS_BLUR[s - 1]
        L = np.arange(-8, 9)
        disk = np.array([[float(i * i + j * j <= radius * radius) for j in L] for i in L], np.float32)
        disk /= disk.sum()  # float32 as the reference's kernel: flat areas truncate the same way
        g = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias**2))
        g = (g / g.sum()).astype(np.float32)
        p = np.pad(disk, 1, mode="reflect")
        rows = sum(g[j] * p[:, j : j + 17] for j in range(3)).astype(np.float32)
        kern = sum(g[i] * rows[i : i + 17] for i in range(3)).astype(np.float32)
        q = np.pad(x, ((8, 8), (8, 8), (0, 0)), mode="reflect")
        out = sum(kern[i, j] * q[i : i + 32, j : j + 32] for i in range(17) for j in range(17))
        close(run("defocus_blur", s, images[0]), np.uint8(np.clip(out, 0, 1) * 255), frac=0.01)


def magick_blur(img, radius, sigma, angle):
    """ImageMagick's motion blur written per pixel: 2r+1 one-sided taps along the angle."""
    width = 2 * math.ceil(radius) + 1
    wts = np.array([math.exp(-i * i / (2 * sigma * sigma)) for i in range(width)])
    wts /= wts.sum()
    a = math.pi * angle / 180.0
    # ImageMagick's direction (width sin a, width cos a) / hypot: at i sin a = k + 1/2 its rounding decides
    py, px = width * math.sin(a), width * math.cos(a)
    norm = math.hypot(px, py)
    offs = [(math.ceil(i * px / norm - 0.5), math.ceil(i * py / norm - 0.5)) for i in range(width)]
    h, w = img.shape[:2]
    out = np.zeros(img.shape)
    for y in range(h):
        for x in range(w):
            for (dx, dy), wt in zip(offs, wts, strict=True):
                out[y, x] += wt * 257.0 * img[min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)]
    return np.floor(np.floor(out + 0.5) / 257).astype(np.uint8)


def test_motion_blur(images):
    for s in (1, 5):
        radius, sigma = C.MOTION_BLUR[s - 1]
        angle = rng_for("motion_blur", s).uniform(-45, 45)
        close(run("motion_blur", s, images[0]), magick_blur(images[0], radius, sigma, angle))


def zoom_linear(img, factor):
    """scipy.ndimage.zoom(order=1) re-derived: output i samples input i (n_in - 1) / (n_out - 1)."""
    n = img.shape[0]
    m = int(round(n * factor))
    pos = np.arange(m) * (n - 1) / (m - 1)
    lo = np.minimum(np.floor(pos).astype(int), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    f = pos - lo
    rows = img[lo] * (1 - f)[:, None, None] + img[hi] * f[:, None, None]
    return rows[:, lo] * (1 - f)[None, :, None] + rows[:, hi] * f[None, :, None]


def centre_zoom(img, factor):
    h = img.shape[0]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    z = zoom_linear(img[top : top + ch, top : top + ch], factor)
    t = (z.shape[0] - h) // 2
    return z[t : t + h, t : t + h]


def test_zoom_blur(images):
    x = images[1] / 255
    for s in (1, 5):
        factors = np.arange(1, (1.06, 1.11, 1.16, 1.21, 1.26)[s - 1], 0.01)
        acc = x + sum(centre_zoom(x, z) for z in factors)
        close(run("zoom_blur", s, images[1]), np.uint8(np.clip(acc / (len(factors) + 1), 0, 1) * 255), frac=0.01)


# ----------------------------------------------------------------------------- weather
def test_snow(images):
    x = images[0].astype(np.float32) / 255
    for s in (1, 3, 5):
        mean, std, zoom, thr, radius, sigma, wgt = C.SNOW[s - 1]
        r = rng_for("snow", s)
        layer = centre_zoom(r.normal(size=(32, 32), loc=mean, scale=std)[..., None], zoom)[..., 0]
        layer[layer < thr] = 0
        flakes = magick_blur((np.clip(layer, 0, 1) * 255).astype(np.uint8), radius, sigma, r.uniform(-135, -45)) / 255
        grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
        base = wgt * x + (1 - wgt) * np.maximum(x, grey[..., None] * 1.5 + 0.5)
        expect = np.uint8(np.clip(base + flakes[..., None] + flakes[::-1, ::-1, None], 0, 1) * 255)
        close(run("snow", s, images[0]), expect, frac=0.01)


@pytest.mark.skipif(
    not frost_mod.available(), reason="frost needs the 'imagecorruptions' package (pip install 'poolbench[robustness]')"
)
def test_frost():
    x = np.full((32, 32, 3), 100, np.uint8)
    folder = frost_mod.frost_dir()
    for s in (1, 5):
        a, b = C.FROST[s - 1]
        r = rng_for("frost", s)
        name = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"][r.integers(5)]
        pic = np.asarray(Image.open(folder / name).convert("RGB"))
        small = pic[2::5, 2::5][: int(np.rint(pic.shape[0] / 5)), : int(np.rint(pic.shape[1] / 5))]
        top, left = r.integers(0, small.shape[0] - 32), r.integers(0, small.shape[1] - 32)
        expect = np.uint8(np.clip(a * x + b * small[top : top + 32, left : left + 32], 0, 255))
        close(run("frost", s, x), expect)


def test_frost_refuses_without_the_extra(monkeypatch):
    monkeypatch.setattr(frost_mod.importlib.util, "find_spec", lambda name: None)
    frost_mod.frost_pictures.cache_clear()
    with pytest.raises(ValueError, match=r"pip install 'poolbench\[robustness\]'"):
        C.corrupt(np.zeros((1, 32, 32, 3), np.uint8), "frost", 1)
    monkeypatch.undo()
    frost_mod.frost_pictures.cache_clear()


def plasma_by_cells(r, size, decay):
    """Diamond-square cell by cell: centre = mean of 4 corners + wibble * U(-wibble, wibble); edge
    midpoints = mean of their 2 corners and 2 centres (periodic); wibble /= decay per octave."""
    m = np.zeros((size, size))
    step, wib = size, 100.0
    while step >= 2:
        half, n = step // 2, size // step
        u = r.uniform(-wib, wib, (n, n))
        for i in range(n):
            for j in range(n):
                y, x = i * step, j * step
                corners = (
                    m[y, x]
                    + m[(y + step) % size, x]
                    + m[y, (x + step) % size]
                    + m[(y + step) % size, (x + step) % size]
                )
                m[y + half, x + half] = corners / 4 + wib * u[i, j]
        u_row, u_col = r.uniform(-wib, wib, (n, n)), None
        for i in range(n):
            for j in range(n):
                y, x = i * step, j * step + half  # between (y, x-half) and (y, x+half)
                s = m[(y + half) % size, x] + m[(y - half) % size, x] + m[y, x - half] + m[y, (x + half) % size]
                m[y, x] = s / 4 + wib * u_row[i, j]
        u_col = r.uniform(-wib, wib, (n, n))
        for i in range(n):
            for j in range(n):
                y, x = i * step + half, j * step
                s = m[y, (x + half) % size] + m[y, (x - half) % size] + m[y - half, x] + m[(y + half) % size, x]
                m[y, x] = s / 4 + wib * u_col[i, j]
        step //= 2
        wib /= decay
    m -= m.min()
    return m / m.max()


def test_fog_uses_the_reference_wibble_squared_decay(images):
    x = images[2] / 255
    for s in (1, 5):
        strength, decay = C.FOG[s - 1]
        fractal = plasma_by_cells(rng_for("fog", s), 32, decay)
        expect = np.uint8(np.clip((x + strength * fractal[..., None]) * x.max() / (x.max() + strength), 0, 1) * 255)
        close(run("fog", s, images[2]), expect, frac=0.01)


class MaxDraw:
    """A stand-in generator whose uniform(low, high) always returns ``high``."""

    def uniform(self, low, high, size):
        return np.full(size, float(high))


def test_fog_noise_amplitude_falls_by_decay_squared_per_octave():
    """With every draw at its maximum, on a 4x4 map: the first centre (2, 2) is 100^2; the edge
    midpoints (0, 2), (2, 0) are (1e4 + 1e4) / 4 + 1e4 = 1.5e4; the second-octave centre (1, 1) is
    (0 + 1.5e4 + 1.5e4 + 1e4) / 4 + (100 / decay)^2. Normalisation divides both by the same max."""
    for decay in (2.0, 3.0):
        f = C.plasma_fractal(MaxDraw(), 4, decay)
        assert f[1, 1] / f[2, 2] == pytest.approx((1e4 + (100 / decay) ** 2) / 1e4)


def test_spatter_mud(images):
    x = images[0].astype(np.float32) / 255
    for s in (4, 5):
        mean, std, sigma, thr, mud_sigma, _ = C.SPATTER[s - 1]
        liquid = smooth(rng_for("spatter", s).normal(size=(32, 32), loc=mean, scale=std), sigma)
        liquid[liquid < thr] = 0
        m = smooth((liquid > thr).astype(np.float64), mud_sigma)
        m[m < 0.8] = 0
        colour = np.array([63, 42, 20]) / 255
        expect = np.uint8(np.clip(x * (1 - m[..., None]) + colour * m[..., None], 0, 1) * 255)
        close(run("spatter", s, images[0]), expect, frac=0.01)


def test_spatter_water_adds_turquoise_where_the_liquid_is(images):
    x = images[0]
    for s in (1, 2, 3):
        out = run("spatter", s, x).astype(int)
        diff = out - x
        assert (diff >= 0).all()  # water only adds
        changed = diff.sum(-1) > 0
        if changed.any():  # pale turquoise: red gains least
            assert diff[changed][:, 0].sum() <= diff[changed][:, 1].sum()


def test_spatter_water_without_liquid_is_black_as_the_generator_stores_it(images):
    from tests.robustness.test_perturbations import ConstantNormal, reference_water_frame

    for s in (1, 2, 3):  # the water severities: make_cifar_c.py's m /= np.max(m) is 0 / 0 here too
        strength = C.SPATTER[s - 1][4]
        out = corrupt_image(images[1], "spatter", s, ConstantNormal(0.0))
        assert np.array_equal(out, reference_water_frame(images[1], np.zeros((32, 32)), strength))
        assert not out.any()


# ----------------------------------------------------------------------------- digital
def hsv_map(img, fn):
    out = np.empty(img.shape)
    for i in range(32):
        for j in range(32):
            h, s, v = colorsys.rgb_to_hsv(*(img[i, j] / 255))
            out[i, j] = colorsys.hsv_to_rgb(*fn(h, s, v))
    return out


def test_brightness_and_saturate(images):
    x = images[1]
    for s in (1, 5):
        c = C.BRIGHTNESS[s - 1]
        expect = np.uint8(np.clip(hsv_map(x, lambda h, sa, v, c=c: (h, sa, min(max(v + c, 0), 1))), 0, 1) * 255)
        close(run("brightness", s, x), expect, frac=0.01)
        a, b = C.SATURATE[s - 1]
        expect = np.uint8(
            np.clip(hsv_map(x, lambda h, sa, v, a=a, b=b: (h, min(max(sa * a + b, 0), 1), v)), 0, 1) * 255
        )
        close(run("saturate", s, x), expect, frac=0.01)


def test_contrast(images):
    x = images[0] / 255
    m = x.reshape(-1, 3).mean(0)
    close(run("contrast", 5, images[0]), np.uint8(np.clip((x - m) * 0.15 + m, 0, 1) * 255))


def box_resize(img, size):
    """Pillow's BOX resampling: output o centred at c = (o + 1/2) n / size averages the input pixels
    whose centres fall in (c - f/2, c + f/2], f = max(n / size, 1) (so upscaling picks the nearest)."""
    n = img.shape[0]
    scale = n / size
    f = max(scale, 1.0)
    w = np.zeros((size, n))
    for o in range(size):
        c = (o + 0.5) * scale
        for i in range(n):
            w[o, i] = 1.0 if -0.5 < (i + 0.5 - c) / f <= 0.5 else 0.0
        w[o] /= w[o].sum()
    return np.einsum("oi,pj,ijc->opc", w, w, img.astype(np.float64))


def test_pixelate(images):
    x = images[0]
    for s in (1, 5):
        side = int(32 * C.PIXELATE[s - 1])
        small = np.clip(np.floor(box_resize(x, side) + 0.5), 0, 255)
        expect = np.clip(np.floor(box_resize(small, 32) + 0.5), 0, 255)
        close(run("pixelate", s, x), expect, max_diff=1)


def test_jpeg_is_pillows_codec_at_the_severity_quality(images):
    x = images[0]
    for s, q in ((1, 80), (5, 40)):
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, "JPEG", quality=q)
        close(run("jpeg_compression", s, x), np.asarray(Image.open(buf)))
    e1 = np.abs(run("jpeg_compression", 1, x).astype(int) - x).mean()
    e5 = np.abs(run("jpeg_compression", 5, x).astype(int) - x).mean()
    assert e5 > e1


def bilinear(img, ys, xs, border):
    """Sample [H, W, C] at float positions with 'reflect101' (mirror without edge) or 'reflect'
    (scipy's half-sample mirror) borders."""
    h, w = img.shape[:2]

    def fold(i, n):
        if border == "reflect101":
            p = 2 * (n - 1)
            i = np.abs(i) % p
            return np.where(i >= n, p - i, i)
        i = np.where(i < 0, -i - 1, i) % (2 * n)
        return np.where(i >= n, 2 * n - 1 - i, i)

    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]

    def g(yy, xx):
        return img[fold(yy, h), fold(xx, w)]

    return (
        g(y0, x0) * (1 - fy) * (1 - fx)
        + g(y0, x0 + 1) * (1 - fy) * fx
        + g(y0 + 1, x0) * fy * (1 - fx)
        + g(y0 + 1, x0 + 1) * fy * fx
    )


def test_elastic_transform(images):
    """Affine through three jittered points, then a smoothed random displacement; OpenCV's 1/32-pixel
    coordinate grid is not reproduced here, so values agree to a few levels, most exactly."""
    x = images[2].astype(np.float64) / 255
    for s in (1, 3, 5):
        alpha, sigma, jitter = C.ELASTIC[s - 1]
        r = rng_for("elastic_transform", s)
        src = np.array([[26.0, 26], [26, 6], [6, 6]])
        dst = src + r.uniform(-jitter, jitter, size=(3, 2)).astype(np.float32)
        A = np.linalg.solve(np.hstack([src, np.ones((3, 1))]), dst).T  # dst = A [src; 1]
        inv = np.linalg.inv(np.vstack([A, [0, 0, 1]]))
        yy, xx = np.meshgrid(np.arange(32.0), np.arange(32.0), indexing="ij")
        warped = bilinear(
            x, inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2], inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2], "reflect101"
        )
        fields = []
        for _ in range(2):
            u = r.uniform(-1, 1, size=(32, 32))
            fields.append((smooth(u, sigma, mode="symmetric", truncate=3) if sigma > 0 else u) * alpha)
        out = bilinear(warped, yy + fields[1], xx + fields[0], "reflect")
        got = run("elastic_transform", s, images[2]).astype(int)
        d = np.abs(got - np.uint8(np.clip(out, 0, 1) * 255))
        assert d.max() <= 6 and d.mean() < 0.6, (s, d.max(), d.mean())


def test_every_corruption_is_deterministic_and_seeded(images):
    for name in C.CORRUPTIONS:
        if name == "frost" and not frost_mod.available():
            continue
        a = C.corrupt(images, name, 3, seed=1)
        assert a.dtype == np.uint8 and a.shape == images.shape
        assert np.array_equal(a, C.corrupt(images, name, 3, seed=1)), name
        assert np.array_equal(a[1:], C.corrupt(images[1:], name, 3, seed=1, start=1)), name  # slices regenerate
        assert not np.array_equal(a, images), name


def test_standard_and_extras():
    assert len(C.STANDARD) == 15 and len(C.EXTRAS) == 4
    assert set(C.EXTRAS) == {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
    assert C.MOTION_BLUR == ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown corruption"):
        C.corrupt(np.zeros((1, 32, 32, 3), np.uint8), "sparkle", 1)
    with pytest.raises(ValueError, match="severity"):
        C.corrupt(np.zeros((1, 32, 32, 3), np.uint8), "fog", 6)
    with pytest.raises(ValueError, match="32x32 RGB"):
        C.corrupt(np.zeros((1, 28, 28, 1), np.uint8), "fog", 1)


# ----------------------------------------------------------------------------- severity tables
# Transcribed by hand from hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py: each
# corruption's ``c = [...][severity - 1]`` list, severities 1..5, as literals (not read from the
# module under test), so a changed constant at any severity fails here.
MAKE_CIFAR_C_TABLES = {
    "GAUSSIAN_NOISE": [0.04, 0.06, 0.08, 0.09, 0.10],
    "SHOT_NOISE": [500, 250, 100, 75, 50],
    "IMPULSE_NOISE": [0.01, 0.02, 0.03, 0.05, 0.07],
    "SPECKLE_NOISE": [0.06, 0.1, 0.12, 0.16, 0.2],
    "GAUSSIAN_BLUR": [0.4, 0.6, 0.7, 0.8, 1],
    "GLASS_BLUR": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "DEFOCUS_BLUR": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "MOTION_BLUR": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "FOG": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "FROST": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "SNOW": [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ],
    "SPATTER": [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ],
    "CONTRAST": [0.75, 0.5, 0.4, 0.3, 0.15],
    "BRIGHTNESS": [0.05, 0.1, 0.15, 0.2, 0.3],
    "SATURATE": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "JPEG": [80, 65, 58, 50, 40],
    "PIXELATE": [0.95, 0.9, 0.85, 0.75, 0.65],
    # elastic_transform: IMSIZE = 32; (IMSIZE*a, IMSIZE*b, IMSIZE*c)
    "ELASTIC": [
        (32 * 0, 32 * 0, 32 * 0.08),
        (32 * 0.05, 32 * 0.2, 32 * 0.07),
        (32 * 0.08, 32 * 0.06, 32 * 0.06),
        (32 * 0.1, 32 * 0.04, 32 * 0.05),
        (32 * 0.1, 32 * 0.03, 32 * 0.03),
    ],
}
# zoom_blur: c = np.arange(1, top, 0.01) for these tops
MAKE_CIFAR_C_ZOOM_TOPS = [1.06, 1.11, 1.16, 1.21, 1.26]


@pytest.mark.parametrize("name", sorted(MAKE_CIFAR_C_TABLES))
def test_severity_constants_match_make_cifar_c_at_every_severity(name):
    ours = getattr(C, name)
    reference = MAKE_CIFAR_C_TABLES[name]
    assert len(ours) == len(reference) == 5
    for severity, (got, want) in enumerate(zip(ours, reference, strict=True), start=1):
        assert np.asarray(got, dtype=np.float64).tolist() == np.asarray(want, dtype=np.float64).tolist(), (
            f"{name} severity {severity}: {got} != make_cifar_c.py's {want}"
        )


def test_zoom_blur_factors_match_make_cifar_c_at_every_severity():
    assert len(C.ZOOM_BLUR) == 5
    for severity, (got, top) in enumerate(zip(C.ZOOM_BLUR, MAKE_CIFAR_C_ZOOM_TOPS, strict=True), start=1):
        want = np.arange(1, top, 0.01)
        assert np.array_equal(np.asarray(got), want), f"zoom_blur severity {severity}: {got} != {want}"
