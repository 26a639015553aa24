"""The scatter matrices A and B of Birodkar, Mobahi, Krishnan & Bengio 2019 ("A Closed-Form Learned
Pooling for Deep Classification Networks", arXiv:1906.03808), streamed from feature batches.

Notation (Sec. 3.1): a feature map of C channels over an I x J grid is X (N x C), N = I * J, one
column per channel. The paper's Algorithm 1, lines 2-16, with K_q images of class q (Q classes):

    Xbar_q = (1/K_q) sum_{k: y_k = q} X_k                                   (7), line 11
    B      = sum_q [ (1/K_q) sum_{k: y_k = q} X_k X_k^T  -  Xbar_q Xbar_q^T ]  (12), line 14
    A      = sum_q Xbar_q Xbar_q^T  -  (1/Q) Sbar Sbar^T,  Sbar = sum_q Xbar_q     (11), line 16

i.e. A = sum_q (Xbar_q - Xbar)(Xbar_q - Xbar)^T with Xbar the *unweighted* mean of the class means
(every class counts once, whatever its size), and B the sum over classes of each class's mean
within-class scatter. Memory is O(Q (C N + N^2)) whatever the number of images.

The X_k are the *normalised* maps of Sec. 3.6, "Normalization of Feature Maps":

    g_k(i, j, c) = (f_k(i, j, c) - fbar(c)) / sqrt(v(c)),
    fbar(c) = (1 / IJK) sum_{i,j,k} f_k(i, j, c),  v(c) = (1 / IJK) sum_{i,j,k} (f_k(i, j, c) - fbar(c))^2,

one mean and one variance per channel over all positions and all images (``ChannelStats``; a first
pass over the features), so a map keeps its level relative to the dataset and A, B see it. The
paper takes fbar, v over the training set; we take them over the images the fit uses (the first
``max_per_class`` of each class, Sec. 6.4's "at most 10000 samples per class"), the whole training
set whenever that cap does not bind. ``normalization="per-map"`` is the project's earlier reading
(each map standardised by its own mean and std: A 1 = B 1 = 0, level information lost), kept only
as a named option for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

NORMALIZATIONS = ("per-channel", "per-map")
EPS = 1e-12  # variance floor: a channel constant over the whole set normalises to zeros


class ChannelStats:
    """Streams [B, C, H, W] batches into fbar(c) and v(c) (Sec. 3.6), exact in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def update(self, feats: torch.Tensor) -> None:
        x = feats.detach().cpu().to(torch.float64)
        if self.total is None:
            self.total = torch.zeros(x.shape[1], dtype=torch.float64)
            self.squares = torch.zeros_like(self.total)
        self.total += x.sum((0, 2, 3))
        self.squares += (x * x).sum((0, 2, 3))
        self.count += x.shape[0] * x.shape[2] * x.shape[3]

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.count:
            raise ValueError("no features were accumulated")
        mean = self.total / self.count
        return mean, (self.squares / self.count - mean * mean).clamp_min(0)


def normalize_maps(
    x: torch.Tensor, mean: Sequence[float] | None, var: Sequence[float] | None, normalization: str = "per-channel"
) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, N] float64: g = (f - fbar(c)) / sqrt(v(c)) (Sec. 3.6), or per-map."""
    z = x.detach().to(torch.float64).flatten(2)
    if normalization == "per-channel":
        m = torch.as_tensor(mean, dtype=torch.float64)[None, :, None]
        v = torch.as_tensor(var, dtype=torch.float64)[None, :, None]
        return torch.where(v > EPS, (z - m) / v.clamp_min(EPS).sqrt(), torch.zeros_like(z))
    if normalization == "per-map":
        z = z - z.mean(dim=2, keepdim=True)
        std = z.pow(2).mean(dim=2, keepdim=True).sqrt()
        return torch.where(std > 1e-6, z / std.clamp_min(1e-6), torch.zeros_like(z))
    raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")


class ScatterAccumulator:
    """Streams (features, labels) into per-class sums of X_k and of X_k X_k^T; ``scatter()`` gives (A, B).

    ``mean``/``var``: fbar(c), v(c) for the per-channel normalisation (from ``ChannelStats``).
    """

    def __init__(
        self,
        num_classes: int,
        max_per_class: int = 10000,
        mean: Sequence[float] | None = None,
        var: Sequence[float] | None = None,
        normalization: str = "per-channel",
    ):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
        if normalization == "per-channel" and (mean is None or var is None):
            raise ValueError("per-channel normalisation needs the channel means and variances (ChannelStats)")
        self.num_classes, self.max_per_class = num_classes, max_per_class
        self.mean, self.var, self.normalization = mean, var, normalization
        self.counts = torch.zeros(num_classes, dtype=torch.long)
        self.class_sums: torch.Tensor | None = None  # [Q, C, N]: sum of X_k (transposed)
        self.class_grams: torch.Tensor | None = None  # [Q, N, N]: sum of X_k X_k^T
        self.shape: tuple[int, int, int] | None = None  # (C, H, W)

    def update(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        if feats.dim() != 4:
            raise ValueError(f"features must be [B, C, H, W], got {tuple(feats.shape)}")
        if self.shape is None:
            self.shape = tuple(feats.shape[1:])
            c, h, w = self.shape
            self.class_sums = torch.zeros(self.num_classes, c, h * w, dtype=torch.float64)
            self.class_grams = torch.zeros(self.num_classes, h * w, h * w, dtype=torch.float64)
        elif tuple(feats.shape[1:]) != self.shape:
            raise ValueError(f"feature maps changed shape from {self.shape} to {tuple(feats.shape[1:])}")
        labels = labels.detach().cpu().long()
        keep = take_first_per_class(labels, self.counts, self.max_per_class)
        if not keep.any():
            return
        z = normalize_maps(feats.detach().cpu()[keep], self.mean, self.var, self.normalization)  # [B', C, N]
        y = labels[keep]
        self.class_sums.index_add_(0, y, z)
        for q in y.unique().tolist():
            flat = z[y == q].reshape(-1, z.shape[-1])  # every (image, channel) column of X_k
            self.class_grams[q] += flat.T @ flat

    @property
    def full(self) -> bool:
        return bool((self.counts >= self.max_per_class).all())

    def scatter(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B), both [N, N] float64, by Algorithm 1 lines 11-16 over the classes seen."""
        if self.class_grams is None:
            raise ValueError("no features were accumulated")
        seen = self.counts > 0
        k = self.counts[seen].to(torch.float64)
        means = self.class_sums[seen] / k[:, None, None]  # Xbar_q^T: [Q', C, N]
        outer = torch.einsum("qcn,qcm->qnm", means, means)  # Xbar_q Xbar_q^T
        b = (self.class_grams[seen] / k[:, None, None] - outer).sum(0)
        sbar = means.sum(0)  # [C, N]
        a = outer.sum(0) - sbar.T @ sbar / len(k)
        return (a + a.T) / 2, (b + b.T) / 2  # symmetric up to rounding


def take_first_per_class(labels: torch.Tensor, counts: torch.Tensor, max_per_class: int) -> torch.Tensor:
    """Mask of the images still within their class's ``max_per_class`` budget; updates ``counts``."""
    keep = torch.zeros(len(labels), dtype=torch.bool)
    for q in labels.unique().tolist():
        idx = (labels == q).nonzero().flatten()
        room = max(max_per_class - int(counts[q]), 0)
        keep[idx[:room]] = True
        counts[q] += min(room, len(idx))
    return keep
