"""Between- and within-class scatter over *spatial positions*, accumulated from feature batches.

Birodkar, Mobahi, Krishnan & Bengio, "A Closed-Form Learned Pooling for Deep Classification
Networks" (arXiv:1906.03808), Algorithm 1: the pooling weights p (one per position, shared by all
channels) are found from two N x N matrices, N = H * W, that measure how well the pooled features
separate the classes. Every (image i, channel c) feature map, flattened to z_ic in R^N, is one
sample with label y_i; the pooled feature is p . z_ic, so

    between:  A = sum_k n_k sum_c (m_kc - m_c)(m_kc - m_c)^T    (p^T A p: spread of class means)
    within:   B = sum_i sum_c (z_ic - m_{y_i c})(z_ic - m_{y_i c})^T    (p^T B p: spread inside classes)

with m_kc the mean map of channel c over class k and m_c over all images. Both are accumulated in
one streaming pass (per-class sums of the maps and one Gram matrix sum_ic z_ic z_ic^T), so memory
is O(K C N + N^2) whatever the number of images; at most ``max_per_class`` images per class count.

Channel normalisation: each map z_ic is standardised over its positions (zero mean, unit std, per
image and channel) before it is accumulated, so every channel weighs the same in A and B whatever
its activation scale. This is the normalisation ``poolbench.pools.lda.LDAPool`` undoes in its
forward (its docstring; the two must agree). We could not read the paper's method section (only its
abstract and introduction were available), so this is the project's reading, not a transcription.
"""
from __future__ import annotations

from typing import Tuple

import torch

EPS = 1e-6  # std floor: a constant map standardises to zeros instead of dividing by zero


def standardize_maps(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, H*W] float64, each map zero-mean and unit-std over its positions."""
    z = x.detach().to(torch.float64).flatten(2)
    z = z - z.mean(dim=2, keepdim=True)
    std = z.pow(2).mean(dim=2, keepdim=True).sqrt()
    return torch.where(std > EPS, z / std.clamp_min(EPS), torch.zeros_like(z))


class ScatterAccumulator:
    """Streams feature batches into per-class map sums and a Gram matrix; ``scatter()`` gives (A, B)."""

    def __init__(self, num_classes: int, max_per_class: int = 10000, normalize: bool = True):
        self.num_classes, self.max_per_class, self.normalize = num_classes, max_per_class, normalize
        self.counts = torch.zeros(num_classes, dtype=torch.long)
        self.class_sums = None  # [K, C, N] float64
        self.gram = None  # [N, N] float64
        self.shape = None  # (C, H, W)

    def update(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        if feats.dim() != 4:
            raise ValueError(f"features must be [B, C, H, W], got {tuple(feats.shape)}")
        if self.shape is None:
            self.shape = tuple(feats.shape[1:])
            c, h, w = self.shape
            self.class_sums = torch.zeros(self.num_classes, c, h * w, dtype=torch.float64)
            self.gram = torch.zeros(h * w, h * w, dtype=torch.float64)
        elif tuple(feats.shape[1:]) != self.shape:
            raise ValueError(f"feature maps changed shape from {self.shape} to {tuple(feats.shape[1:])}")
        labels = labels.detach().cpu().long()
        keep = torch.zeros(len(labels), dtype=torch.bool)
        for k in labels.unique().tolist():  # the first max_per_class images of each class count
            idx = (labels == k).nonzero().flatten()
            room = max(self.max_per_class - int(self.counts[k]), 0)
            keep[idx[:room]] = True
            self.counts[k] += min(room, len(idx))
        if not keep.any():
            return
        z = standardize_maps(feats.cpu()[keep]) if self.normalize else feats.detach().cpu()[keep].double().flatten(2)
        self.class_sums.index_add_(0, labels[keep], z)
        flat = z.reshape(-1, z.shape[-1])  # every (image, channel) map is one sample
        self.gram += flat.T @ flat

    @property
    def full(self) -> bool:
        return bool((self.counts >= self.max_per_class).all())

    def scatter(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(A, B), both [N, N] float64, from everything seen so far (classes never seen are skipped)."""
        if self.gram is None:
            raise ValueError("no features were accumulated")
        n = self.counts.to(torch.float64)
        seen = n > 0
        means = self.class_sums[seen] / n[seen, None, None]  # [K', C, N]
        overall = self.class_sums.sum(0) / n.sum()  # [C, N]
        dev = means - overall
        a = torch.einsum("k,kcn,kcm->nm", n[seen], dev, dev)
        b = self.gram - torch.einsum("k,kcn,kcm->nm", n[seen], means, means)
        return (a + a.T) / 2, (b + b.T) / 2  # symmetric up to rounding
