"""The closed-form pooling weights of Birodkar, Mobahi, Krishnan & Bengio 2019 (arXiv:1906.03808,
Sec. 3.3-3.6, Algorithm 1).

For output position m of an I' x J' grid over an I x J input (M = I'J' outputs, N = IJ inputs),
the weights p_m in R^N (shared by all channels) maximise the class separability of the pooled
features with a localisation penalty, whose solution is the generalised eigenproblem (16)-(18):

    A p = -lambda (B + alpha C_m) p,     p*_m = top_eigvec((B + alpha C_m)^{-1} A)        (18)

with A, B the between- and within-class scatter of the normalised maps (``scatter.py``, (11)-(12))
and C_m diagonal (Sec. 3.4, Algorithm 1 line 21):

    c^m_{n,n} = || coord_Omega(n) - s coord_omega(m) ||^2,    s = I / I' = J / J',

coordinates 1-based ((1, 1) is the top-left position of either grid). So output m = (i', j') is
anchored at input position (s i', s j'): for a stride-2 grid the bottom-right pixel of its 2 x 2
block. alpha is the paper's alpha (Table 1 uses 5 to 65), with no rescaling. B + alpha C_m is
symmetric and, for alpha > 0 and B positive definite on the anchor pixel, positive definite, so we
solve the symmetric-definite problem A p = mu (B + alpha C_m) p (``scipy.linalg.eigh``), whose
eigenvectors are those of (18) (mu = -lambda). "Number of Eigenvectors" (Sec. 3.6): the top
``n_out`` (the paper uses 2 where the network doubles its channels) give n_out pooled copies.
"Choice of Norm" (Sec. 3.6, Algorithm 1 line 25): each p*_m is returned as p*_m / ||p*_m||, l1 or
l2, its sign as the solver gives it (the next layer is retrained from scratch and absorbs it).

Named options, non-default: ``ridge`` adds ridge * I to B + alpha C_m (only if B is singular, e.g.
fewer samples than positions with alpha = 0; the paper has none); ``centre="block"`` anchors output
m at the centre of its block, ((i' - 1/2) s + 1/2, ...), instead of the paper's s coord_omega(m).
For a single global output (I' = J' = 1, s = I) the paper's anchor is the corner (I, J); the paper
itself never replaces the final global average pooling (Sec. 6.3).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.linalg
import torch

from ..pools.lda import FORMAT  # the weights-file format: bump it there when p's meaning changes
from .scatter import ChannelStats, ScatterAccumulator, take_first_per_class

CENTRES = ("paper", "block")


def coordinates(size: Sequence[int]) -> np.ndarray:
    """[N, 2] 1-based (row, col) of each position, in torch's row-major flatten order.

    The paper's vec() stacks columns; the order of the N positions does not change the problem
    (it permutes A, B and C_m alike), only how p is laid out, and ours is the layout x.flatten(2) has.
    """
    h, w = map(int, size)
    rows, cols = np.meshgrid(np.arange(1, h + 1), np.arange(1, w + 1), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)


def scale_factor(in_size: Sequence[int], out_size: Sequence[int]) -> float:
    """s = I / I' = J / J' (Sec. 3.4); the two ratios must agree."""
    (h, w), (ho, wo) = in_size, out_size
    if h * wo != w * ho:
        raise ValueError(f"{h}x{w} -> {ho}x{wo}: the paper's scale factor needs I / I' = J / J'")
    return h / ho


def penalty_diagonals(in_size: Sequence[int], out_size: Sequence[int], centre: str = "paper") -> np.ndarray:
    """[M, N]: the diagonal of C_m for every output m, c^m_n = ||coord_Omega(n) - anchor(m)||^2."""
    if centre not in CENTRES:
        raise ValueError(f"centre must be one of {', '.join(CENTRES)}, got {centre!r}")
    s = scale_factor(in_size, out_size)
    anchors = coordinates(out_size) * s  # s coord_omega(m)
    if centre == "block":
        anchors = anchors - (s - 1) / 2
    pos = coordinates(in_size)
    return ((pos[None] - anchors[:, None]) ** 2).sum(-1)


def normalise(p: np.ndarray, norm: str) -> np.ndarray:
    """p / ||p|| row by row (Algorithm 1, line 25), ``norm`` "l1" or "l2"."""
    if norm == "l1":
        return p / np.abs(p).sum(-1, keepdims=True)
    if norm == "l2":
        return p / np.linalg.norm(p, axis=-1, keepdims=True)
    raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")


def solve_pooling(
    a: np.ndarray,
    b: np.ndarray,
    in_size: Sequence[int],
    alpha: float,
    n_out: int = 1,
    out_size: Sequence[int] | None = None,
    norm: str = "l1",
    ridge: float = 0.0,
    centre: str = "paper",
) -> tuple[np.ndarray, np.ndarray]:
    """(p, eigenvalues): p [n_out, M, N] (largest eigenvalue first), eigenvalues [n_out, M], for an
    ``out_size`` grid; ``out_size`` None is one global output, p [n_out, N], eigenvalues [n_out]."""
    n = a.shape[0]
    if n != in_size[0] * in_size[1]:
        raise ValueError(f"scatter matrices are {n}x{n} but the map is {in_size[0]}x{in_size[1]}")
    if not 1 <= n_out <= n:
        raise ValueError(f"n_out must be in 1..{n}, got {n_out}")
    if alpha < 0 or ridge < 0:
        raise ValueError(f"alpha and ridge must be >= 0, got alpha={alpha}, ridge={ridge}")
    grid = (1, 1) if out_size is None else tuple(out_size)
    ps, vals = [], []
    for m, c in enumerate(penalty_diagonals(in_size, grid, centre)):
        rhs = b + np.diag(alpha * c + ridge)
        try:
            w, v = scipy.linalg.eigh(a, rhs, subset_by_index=[n - n_out, n - 1])
        except np.linalg.LinAlgError:
            raise ValueError(
                f"B + alpha C is not positive definite at output {m} (alpha={alpha}): too few "
                f"images for {n} positions? use a larger alpha, more images, or a ridge "
                f"(--ridge, not in the paper)"
            ) from None
        ps.append(v[:, ::-1].T)  # largest eigenvalue first
        vals.append(w[::-1])
    p = normalise(np.stack(ps, 1), norm)  # [n_out, M, N]
    vals = np.stack(vals, 1)
    return (p[:, 0], vals[:, 0]) if out_size is None else (p, vals)


FeatureSource = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]


def fit_lda_pooling(
    features: FeatureSource,
    num_classes: int,
    alpha: float,
    norm: str = "l1",
    n_out: int = 1,
    out_size: Sequence[int] | None = None,
    max_per_class: int = 10000,
    ridge: float = 0.0,
    centre: str = "paper",
    normalization: str = "per-channel",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit p from ``features()``, a callable giving a fresh iterator of (features [B, C, H, W], labels [B]).

    Two passes (Sec. 3.6 normalises with statistics over the whole fitting set, Algorithm 1 needs
    them before it starts): ``ChannelStats`` for fbar(c), v(c), then the scatter matrices. Returns
    (p, meta): p as ``solve_pooling``; meta holds everything a pool needs to apply p (sizes, the
    channel constants, ``format``) and how it was fitted.
    """
    stats, counts = ChannelStats(), torch.zeros(num_classes, dtype=torch.long)
    for feats, labels in features():
        keep = take_first_per_class(labels.cpu().long(), counts, max_per_class)
        if keep.any():
            stats.update(feats[keep])
        if bool((counts >= max_per_class).all()):
            break
    mean, var = stats.mean_var()
    acc = ScatterAccumulator(num_classes, max_per_class, mean, var, normalization)
    for feats, labels in features():
        acc.update(feats, labels)
        if acc.full:
            break
    if not torch.equal(acc.counts, counts):
        raise ValueError("the feature source gave different images on its two passes: it must be deterministic")
    a, b = (m.numpy() for m in acc.scatter())
    c, h, w = acc.shape
    p, vals = solve_pooling(a, b, (h, w), alpha, n_out, out_size, norm, ridge, centre)
    meta = {
        "format": FORMAT,
        "method": "birodkar2019",
        "size": [h, w],
        "channels": c,
        "out_size": list(out_size) if out_size else [1, 1],
        "n_out": n_out,
        "alpha": alpha,
        "norm": norm,
        "ridge": ridge,
        "centre": centre,
        "normalization": normalization,
        "channel_mean": mean.tolist(),
        "channel_var": var.tolist(),
        "eigenvalues": np.round(vals, 6).tolist(),
        "images_per_class": acc.counts.tolist(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return p, meta
