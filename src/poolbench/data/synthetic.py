"""``synthetic``: a CIFAR-shaped (3 x 32 x 32, 10 classes) dataset the project generates itself, in
about a second, identically on every machine -- the embedded default for demos and tests.

Each image is one object over clutter. The class is the object's *shape* (disk, square, ring, plus,
X, triangle, two bars, diamond, frame, dot grid), drawn in a random colour at a random position and
scale (half-size 4-10 px); the background is a smooth random colour field with random thin bars
(shape fragments) and pixel noise on top. Colour and global statistics say nothing about the class
and the object's box covers only 6-40% of the image, so a classifier must find a small, localised pattern
among distractors -- the situation where how the final map is pooled (average vs max vs learned
weights) makes a difference, unlike a dataset whose class fills the frame.

Randomness is numpy's legacy ``RandomState`` on purpose: its streams are frozen across numpy
versions, so seed 0 gives the same bytes everywhere. Train and test use separate seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import register_dataset

SIZE = 32
N_TRAIN, N_TEST = 5000, 1000
SEED = 0

# Each shape is a mask over object coordinates (u, v) in [-1, 1] (v points down).
Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]
SHAPES: list[tuple[str, Mask]] = [
    ("disk", lambda u, v: u * u + v * v < 1.0),
    ("square", lambda u, v: np.maximum(abs(u), abs(v)) < 0.8),
    ("ring", lambda u, v: (u * u + v * v < 1.0) & (u * u + v * v > 0.4)),
    ("plus", lambda u, v: ((abs(u) < 0.3) & (abs(v) < 1)) | ((abs(v) < 0.3) & (abs(u) < 1))),
    ("x", lambda u, v: ((abs(u - v) < 0.4) | (abs(u + v) < 0.4)) & (np.maximum(abs(u), abs(v)) < 0.9)),
    ("triangle", lambda u, v: (v < 0.8) & (abs(u) < (v + 0.9) / 1.7)),
    ("bars", lambda u, v: ((abs(v - 0.5) < 0.25) | (abs(v + 0.5) < 0.25)) & (abs(u) < 0.95)),
    ("diamond", lambda u, v: abs(u) + abs(v) < 1.0),
    ("frame", lambda u, v: (np.maximum(abs(u), abs(v)) < 0.95) & (np.maximum(abs(u), abs(v)) > 0.6)),
    ("dots", lambda u, v: (abs(abs(u) - 0.55) < 0.3) & (abs(abs(v) - 0.55) < 0.3)),
]
CLASSES = [name for name, _ in SHAPES]


def _background(rs: np.random.RandomState, n: int) -> np.ndarray:
    """Smooth colour field (4x4 random colours, bilinearly upsampled) plus thin random bars."""
    coarse = torch.from_numpy(rs.uniform(0.15, 0.85, (n, 3, 4, 4)).astype(np.float32))
    img = F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False).numpy()
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for _ in range(8):  # distractor strokes: fragments of the shapes' edges, anywhere
        horizontal = rs.rand(n) < 0.5
        length, width = rs.randint(3, 9, n), rs.randint(1, 3, n)
        w = np.where(horizontal, length, width)[:, None, None]
        h = np.where(horizontal, width, length)[:, None, None]
        x0, y0 = rs.randint(0, SIZE, n)[:, None, None], rs.randint(0, SIZE, n)[:, None, None]
        mask = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        colour = rs.uniform(0, 1, (n, 3, 1, 1)).astype(np.float32)
        img = np.where(mask[:, None], colour, img)
    return img


def generate(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images [n, 3, 32, 32] uint8 and labels [n] int64 (classes balanced), from ``seed``."""
    rs = np.random.RandomState(seed)
    labels = rs.permutation(np.arange(n) % len(SHAPES))
    img = _background(rs, n)
    half = rs.uniform(4.0, 10.0, n)  # object half-size in pixels
    cx, cy = rs.uniform(half, SIZE - half), rs.uniform(half, SIZE - half)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32) + 0.5
    u = (xx - cx[:, None, None]) / half[:, None, None]
    v = (yy - cy[:, None, None]) / half[:, None, None]
    mask = np.zeros((n, SIZE, SIZE), dtype=bool)
    for k, (_, shape) in enumerate(SHAPES):
        idx = labels == k
        mask[idx] = shape(u[idx], v[idx])
    # Object colour: random, but pushed away from the background at its centre so it stays visible.
    colour = rs.uniform(0, 1, (n, 3)).astype(np.float32)
    local = img[np.arange(n), :, np.clip(cy.astype(int), 0, SIZE - 1), np.clip(cx.astype(int), 0, SIZE - 1)]
    faint = np.abs(colour - local).max(1) < 0.35
    colour[faint] = np.where(local[faint] > 0.5, 0.0, 1.0)
    img = np.where(mask[:, None], colour[:, :, None, None], img)
    img = img + rs.normal(0, 0.04, img.shape).astype(np.float32)
    x = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def load(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = SEED):
    train_x, train_y = generate(n_train, seed)
    test_x, test_y = generate(n_test, seed + 1_000_003)  # disjoint stream for the test set
    return train_x, train_y, test_x, test_y, list(CLASSES)


@register_dataset("synthetic", sources=lambda p, d: [], generated=lambda: [N_TRAIN, N_TEST, SEED])
def _read(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load()
