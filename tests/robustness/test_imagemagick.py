"""ImageMagick's motion blur: the kernel by hand, and bit-for-bit against ``convert -motion-blur``
where a real ImageMagick is installed (``apt-get install imagemagick``)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from poolbench.robustness.imagemagick import motion_blur, motion_taps


def real_convert() -> bool:
    exe = shutil.which("convert")
    if not exe:
        return False
    out = subprocess.run([exe, "-version"], capture_output=True, text=True)
    return out.returncode == 0 and "ImageMagick" in out.stdout and "stand-in" not in out.stdout


def test_kernel_has_2r_plus_1_one_sided_gaussian_taps():
    taps = motion_taps(6, 1.5, 0.0)
    assert len(taps) == 13
    assert [(dx, dy) for dx, dy, _ in taps] == [(i, 0) for i in range(13)]  # along +x from the pixel
    w = np.array([t[2] for t in taps])
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) < 0)
    assert w[1] / w[0] == pytest.approx(np.exp(-1 / (2 * 1.5**2)))
    assert [(dx, dy) for dx, dy, _ in motion_taps(2, 1, 90.0)] == [(0, i) for i in range(5)]  # 90 deg: down
    assert [(dx, dy) for dx, dy, _ in motion_taps(2.5, 1, 45.0)][:3] == [(0, 0), (1, 1), (1, 1)]  # ceil(0.707-0.5)=1


def test_edges_repeat_and_a_constant_image_stays():
    flat = np.full((8, 8), 77, np.uint8)
    assert np.array_equal(motion_blur(flat, 6, 2, 30), flat)
    ramp = np.tile(np.arange(0, 240, 30, dtype=np.uint8), (8, 1))
    out = motion_blur(ramp, 3, 100, 0)  # nearly flat weights over 7 taps to the right, the edge repeated
    assert out[0, -1] == 210 and out[0, 0] > ramp[0, 0]


@pytest.mark.skipif(not real_convert(), reason="ImageMagick's convert is not installed (apt-get install imagemagick)")
def test_equal_to_imagemagick(tmp_path):
    rng = np.random.default_rng(0)
    for k, (radius, sigma, angle) in enumerate(
        [(6, 1, 12.5), (9, 2.5, -40.0), (14, 12, -100.0), (10, 2, -150.0), (6, 1.8, -81.0)]
    ):
        img = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        if k % 2:
            img = img[..., 0]
        Image.fromarray(img).save(tmp_path / "in.png")
        subprocess.run(
            [
                "convert",
                str(tmp_path / "in.png"),
                "-motion-blur",
                f"{radius}x{sigma}+{angle!r}",
                str(tmp_path / "out.png"),
            ],
            check=True,
        )
        ref = np.asarray(Image.open(tmp_path / "out.png").convert("L" if img.ndim == 2 else "RGB"))
        assert np.array_equal(motion_blur(img, radius, sigma, angle), ref), (radius, sigma, angle)
