"""The OpenCV re-derivations: hand-checked cases, and against OpenCV itself where it is installed
(the robustness extra brings it; the warps are compared only with OpenCV < 4.11, whose fixed-point
1/32-pixel warps the 2018 generator ran on; 4.11 rewrote them)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from poolbench.robustness import opencv_equiv as cv


def test_distance_transform_chamfer_steps():
    x = np.full((9, 9), 255, np.uint8)
    x[4, 4] = 0
    d = cv.distance_transform_l2_5(x)
    assert d[4, 5] == 1 and d[5, 5] == np.float32(1.4) and d[5, 6] == np.float32(2.1969)
    assert d[4, 8] == 4 and d[6, 6] == np.float32(2.8)


def test_equalize_hist_formula():
    x = np.array([[0, 0, 10, 20]], np.uint8)
    # counts 2, 1, 1: the darkest level maps to 0, then round(255 * cdf' / (4 - 2))
    assert cv.equalize_hist(x).tolist() == [[0, 0, 128, 255]]
    assert cv.equalize_hist(np.full((2, 2), 9, np.uint8)).tolist() == [[9, 9], [9, 9]]


def test_canny_finds_a_step_edge_once():
    x = np.zeros((16, 16), np.uint8)
    x[:, 8:] = 200
    e = cv.canny(x, 50, 150)
    cols = np.flatnonzero(e.any(0))
    assert len(cols) == 1 and cols[0] in (7, 8) and e[:, cols[0]].all()
    assert not cv.canny(np.full((8, 8), 3, np.uint8), 50, 150).any()


def test_warp_affine_identity_and_whole_pixel_shift():
    x = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    assert np.array_equal(cv.warp_affine(x, np.array([[1.0, 0, 0], [0, 1, 0]])), x)
    shifted = cv.warp_affine(x, np.array([[1.0, 0, 2], [0, 1, 0]]))  # dst(x) = src(x - 2), mirrored border
    assert np.array_equal(shifted[:, 2:], x[:, :-2]) and np.array_equal(shifted[:, 0], x[:, 2])


def test_warp_perspective_black_outside():
    x = np.full((32, 32, 3), 200, np.uint8)
    out = cv.warp_perspective(x, np.array([[1.0, 0, 5], [0, 1, 0], [0, 0, 1]]))
    assert (out[:, :5] == 0).all() and (out[:, 5:] == 200).all()


cv2 = None
try:  # optional: OpenCV comes with the robustness extra
    import cv2  # type: ignore
except Exception:  # pragma: no cover - absent or unloadable
    cv2 = None

needs_cv2 = pytest.mark.skipif(cv2 is None, reason="OpenCV not installed (pip install 'poolbench[robustness]')")
old_warps = pytest.mark.skipif(
    cv2 is None or tuple(int(v) for v in cv2.__version__.split(".")[:2]) >= (4, 11),
    reason="OpenCV >= 4.11 replaced the fixed-point warps the generator used",
)


def liquid_layers(n=30):
    rng = np.random.default_rng(1)
    for _ in range(n):
        ll = ndimage.gaussian_filter(rng.normal(0.65, 0.3, (32, 32)), 1.0, mode="nearest")
        ll[ll < 0.69] = 0
        yield (ll * 255).astype(np.uint8)


@needs_cv2
def test_against_opencv_filters():
    rng = np.random.default_rng(0)
    for layer in liquid_layers():
        edges = cv2.Canny(layer, 50, 150)
        assert np.array_equal(cv.canny(layer, 50, 150), edges)
        d_ref = cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)
        d = cv.distance_transform_l2_5(255 - edges)
        assert np.abs(np.minimum(d, 20) - np.minimum(d_ref, 20)).max() < 1e-4
    u = (rng.random((32, 32)) * 255).astype(np.uint8)
    assert np.array_equal(cv.box_blur3(u), cv2.blur(u, (3, 3)))
    u = (rng.random((32, 32)) ** 3 * 40).astype(np.uint8)
    assert np.array_equal(cv.equalize_hist(u), cv2.equalizeHist(u))
    d = (rng.random((17, 17)) > 0.5).astype(np.float32)
    assert np.abs(cv.gaussian_blur(d, 3, 0.4) - cv2.GaussianBlur(d, (3, 3), 0.4)).max() < 1e-6
    x = rng.random((32, 32))
    k = rng.random((17, 17)).astype(np.float32)
    assert np.abs(cv.correlate(x, k) - cv2.filter2D(x, -1, k)).max() < 1e-9


@old_warps
def test_against_opencv_warps():
    rng = np.random.default_rng(2)
    x = rng.random((32, 32, 3)).astype(np.float32)
    src = np.float32([[26, 26], [26, 6], [6, 6]])
    for _ in range(5):
        dst = src + rng.uniform(-2.5, 2.5, src.shape).astype(np.float32)
        m = cv2.getAffineTransform(src, dst)
        assert np.allclose(cv.affine_from_points(src, dst), m, atol=1e-12)
        ref = cv2.warpAffine(x, m, (32, 32), borderMode=cv2.BORDER_REFLECT_101)
        assert np.array_equal(cv.warp_affine(x, m), ref)
    img = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    from poolbench.robustness.perturbations import tilt_matrix

    for deg in (-11.25, -3.0, 0.0, 7.5, 11.25):
        m = tilt_matrix(deg)
        assert np.array_equal(cv.warp_perspective(img, m), cv2.warpPerspective(img, m, (32, 32)))
