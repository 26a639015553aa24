"""Fixed images for the robustness tests: smooth colour fields with a bright square (edges to blur)."""

from __future__ import annotations

import numpy as np
import pytest


def smooth_images(n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32), indexing="ij")
    out = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(n):
        a = rng.uniform(0, 1, (3, 3))
        img = a[:, 0] * yy[..., None] + a[:, 1] * xx[..., None] + a[:, 2] * (yy * xx)[..., None]
        img[10:20, 12:22] += 0.5
        out[i] = np.clip(img / img.max() * 230 + 10, 0, 255).astype(np.uint8)
    return out


@pytest.fixture
def images() -> np.ndarray:
    return smooth_images()
