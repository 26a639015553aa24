"""The closed-form pooling weights: a symmetric generalised eigenproblem per output position.

Birodkar, Mobahi, Krishnan & Bengio, "A Closed-Form Learned Pooling for Deep Classification
Networks" (arXiv:1906.03808): for fixed network weights, the pooling weights p in R^N that best
separate the classes maximise the Fisher ratio of the pooled features,

    p* = argmax  p^T A p / p^T (B + alpha C_m + ridge I) p,

solved by the top eigenvector(s) of A p = lambda (B + alpha C_m + ridge I) p
(``scipy.linalg.eigh(A, B')``: B' is symmetric positive definite, A symmetric).

The localisation penalty C_m. p^T C_m p = sum_n d_m(n)^2 p_n^2 with d_m(n) the Euclidean distance
(in input pixels) from position n to the *centre of output m's window*: the second moment of the
weight mass about that centre, i.e. a penalty on the spatial spread of p around where output m sits.
Squared Euclidean distance is chosen because it is rotation invariant, smooth, zero at the centre
and grows with the window's natural scale; alpha -> 0 is plain LDA (p as diffuse as the data says),
alpha -> inf collapses p onto the centre pixel(s) (a strided subsample). For global pooling (M = 1)
the single output's window is the whole map, so its centre is the map centre and the penalty is a
foveation prior: weight far from the middle of the image costs more (CIFAR objects are centred).
For M > 1 (replacing a stride-2 downsampling, ``downsample.py``) output (i, j) of an Ho x Wo grid
has its window centre at ((i + 1/2) H / Ho - 1/2, (j + 1/2) W / Wo - 1/2) in input coordinates,
the centre of the 2 x 2 block a stride-2 pooling would read.
Scale: distances are measured in units of the window's own size, d^2 / r^2 with r^2 the mean
squared distance of a window's pixels from its centre ((sh^2 - 1) / 12 + (sw^2 - 1) / 12 for an
sh x sw window: the whole map for global pooling, 2 x 2 = 0.5 for a stride-2 downsampling), and
multiplied by trace(B) / N (the ridge is 1e-6 trace(B) / N). So alpha is dimensionless and means
the same at every layer: alpha = 1 makes a pixel at the window's typical radius cost as much as
the average within-class variance of one position. (On CIFAR-10 features of a resnet20, alpha = 1
leaves the global p diffuse and makes each downsampling output peak on its own 2 x 2 block with a
smooth tail; alpha = 0 gives downsampling outputs that ignore where they sit.)

Output normalisation (``normalise``): the free offset along 1 is removed, each eigenvector's sign
is fixed so its largest-magnitude entry is positive, then it is scaled to unit l1 norm (a p >= 0
is then a weighted average) or unit l2 norm.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import scipy.linalg
import torch

from .scatter import ScatterAccumulator

RIDGE = 1e-6


def window_centres(in_size: Sequence[int], out_size: Optional[Sequence[int]]) -> np.ndarray:
    """[M, 2] (row, col) centres in input coordinates; out_size None means one global output."""
    h, w = in_size
    if out_size is None:
        return np.array([[(h - 1) / 2, (w - 1) / 2]])
    ho, wo = out_size
    rows = (np.arange(ho) + 0.5) * h / ho - 0.5
    cols = (np.arange(wo) + 0.5) * w / wo - 0.5
    return np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)


def squared_distances(in_size: Sequence[int], centres: np.ndarray) -> np.ndarray:
    """[M, N]: squared distance from each of the N = H * W positions to each centre."""
    h, w = in_size
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pos = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    return ((pos[None] - centres[:, None]) ** 2).sum(-1)


def normalise(p: np.ndarray, norm: str) -> np.ndarray:
    """Offset, sign and scale of each row of p [..., N].

    Offset: standardised maps sum to zero over positions, so A 1 = B 1 = 0 and p + c 1 has the same
    Fisher ratio for any c; the pooling forwards (``LDAPool``, ``LDADownsample``) are invariant to it
    too. We keep the representative of smallest norm: minus the median for l1 (the sparsest p,
    whose zero entries are positions that do not matter), minus the mean for l2.
    """
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    p = p - (np.median(p, -1, keepdims=True) if norm == "l1" else p.mean(-1, keepdims=True))
    idx = np.abs(p).argmax(-1)
    sign = np.sign(np.take_along_axis(p, idx[..., None], -1))
    p = p * np.where(sign == 0, 1.0, sign)
    if norm == "l1":
        return p / np.abs(p).sum(-1, keepdims=True)
    return p / np.linalg.norm(p, axis=-1, keepdims=True)


def solve_pooling(a: np.ndarray, b: np.ndarray, in_size: Sequence[int], alpha: float, n_out: int = 1,
                  out_size: Optional[Sequence[int]] = None, norm: str = "l1") -> Tuple[np.ndarray, np.ndarray]:
    """(p, eigenvalues) from the scatter matrices: p [n_out, N] for one global output, or
    [n_out, M, N] for an Ho x Wo output grid (``out_size``); eigenvalues [n_out] or [n_out, M]."""
    n = a.shape[0]
    if n != in_size[0] * in_size[1]:
        raise ValueError(f"scatter matrices are {n}x{n} but the map is {in_size[0]}x{in_size[1]}")
    if not 1 <= n_out <= n:
        raise ValueError(f"n_out must be in 1..{n}, got {n_out}")
    scale = np.trace(b) / n
    d = squared_distances(in_size, window_centres(in_size, out_size))
    sh, sw = (in_size if out_size is None else (in_size[0] / out_size[0], in_size[1] / out_size[1]))
    unit = (sh * sh - 1) / 12 + (sw * sw - 1) / 12  # mean squared radius of one output's window
    ps, vals = [], []
    for dm in d:
        penalised = b + np.diag(alpha * scale * dm / unit + RIDGE * scale)
        w, v = scipy.linalg.eigh(a, penalised, subset_by_index=[n - n_out, n - 1])
        ps.append(v[:, ::-1].T)  # largest eigenvalue first
        vals.append(w[::-1])
    p = normalise(np.stack(ps, 1), norm)  # [n_out, M, N]
    vals = np.stack(vals, 1)
    return (p[:, 0], vals[:, 0]) if out_size is None else (p, vals)


def fit_lda_pooling(features: Iterable[Tuple[torch.Tensor, torch.Tensor]], num_classes: int, alpha: float = 0.0,
                    norm: str = "l1", n_out: int = 1, out_size: Optional[Sequence[int]] = None,
                    max_per_class: int = 10000) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Accumulate (features [B, C, H, W], labels [B]) batches and solve for the pooling weights.

    Returns (p, meta): p as in ``solve_pooling``; meta holds the sizes, alpha, norm, eigenvalues,
    images per class and the date (``poolbench fit-lda`` adds the source run and layer).
    """
    acc = ScatterAccumulator(num_classes, max_per_class)
    for feats, labels in features:
        acc.update(feats, labels)
        if acc.full:
            break
    a, b = (m.numpy() for m in acc.scatter())
    c, h, w = acc.shape
    p, vals = solve_pooling(a, b, (h, w), alpha, n_out, out_size, norm)
    meta = {"size": [h, w], "channels": c, "out_size": list(out_size) if out_size else [1, 1], "n_out": n_out,
            "alpha": alpha, "norm": norm, "eigenvalues": np.round(vals, 6).tolist(),
            "images_per_class": acc.counts.tolist(), "normalisation": "per-map standardisation",
            "distance": "squared Euclidean distance to the output window centre, scaled (see lda/fit.py)",
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return p, meta
