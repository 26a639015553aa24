"""LDA pooling: applies the closed-form pooling weights of Birodkar, Mobahi, Krishnan & Bengio 2019
("A Closed-Form Learned Pooling for Deep Classification Networks", arXiv:1906.03808) as a global
pool. Fitting p is ``poolbench fit-lda`` (``poolbench.lda.fit``); this module applies a fixed p.

Sec. 3.6: the fit sees normalised maps g = (f - fbar(c)) / sqrt(v(c)), with fbar(c), v(c) one mean
and variance per channel over the fitting set; "after the pooling operator is applied, we transform
the feature map back to its original scale and center by multiplying by v(c) and adding fbar(c)".
Multiplying by v(c) would leave the output scaled by sqrt(v(c)) relative to the input; the inverse
of the normalisation, which the sentence describes ("back to its original scale"), multiplies by
sqrt(v(c)), and that is what we do. With it the variance cancels exactly:

    pooled_m(c) = sqrt(v(c)) * sum_n p_mn (x_n(c) - fbar(c)) / sqrt(v(c)) + fbar(c)
                = sum_n p_mn x_n(c) + (1 - sum_n p_mn) fbar(c),

which is the forward (no division, exact in fp32; tests/pools/test_identities.py checks the
equality). fbar(c) are *dataset* constants (``channel_mean`` in the weights file's meta), never the
sample's own statistics, so output m reads only where p_m puts weight. A weights file fitted with
the non-default ``normalization="per-map"`` is applied with its own back-transform (the sample's
map mean in place of fbar(c)).

``weights``: None (uniform p at any map size, i.e. exactly GAP; lets the contract run it), a
tensor of shape [H*W], [M, H*W] or [M, H, W] (a single [H, W] map: pass p[None]), or a path to a
.pt / .npz / .json file written by ``save_lda_weights``. M > 1 weight maps (several eigenvectors)
give M*C outputs (``feat_mult()`` returns M), ordered [map 0: all channels, map 1: all channels, ...]. A
fitted p applies to its own map size only. ``channel_mean`` (default: the file's, else zeros, i.e.
plain sum_n p_n x_n) must have one entry per channel. Weights files carry ``format``
(``FORMAT``): files from before the paper's operator (no format) are refused.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import LARGE_FILE_CAP, UnsafeFileError, atomic_torch_save, atomic_write, atomic_write_text, read_bytes
from . import register_pool
from .base import GlobalPool, WeightMap

# The weights-file format (the meaning of a fitted p); ``poolbench.lda.fit`` writes it.
FORMAT = 2

PathLike = str | Path


def save_lda_weights(path: PathLike, p: Any, meta: dict[str, Any] | None = None) -> Path:
    """Write p ([H*W], [M, H*W] or [M, H, W]) and a JSON-able ``meta`` dict.

    The format follows the suffix: .pt (torch.save), .npz (numpy, meta as a JSON string) or .json.
    Put ``"size": [H, W]`` in meta when p is flat and the map is not square.
    """
    path = Path(path)
    p = p.detach().cpu().float() if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p), dtype=torch.float32)
    meta = dict(meta or {})
    meta.setdefault("format", FORMAT)
    # whole or absent (its sha256 joins run ids), and never through a link planted in a run directory
    if path.suffix == ".pt":
        atomic_torch_save(path, {"p": p, "meta": meta})
    elif path.suffix == ".npz":
        atomic_write(path, lambda f: np.savez(f, p=p.numpy(), meta=json.dumps(meta)))
    elif path.suffix == ".json":
        atomic_write_text(path, json.dumps({"p": p.tolist(), "meta": meta}, indent=1))
    else:
        raise ValueError(f"LDA weights file must end in .pt, .npz or .json, got {path}")
    return path


def load_lda_weights(path: PathLike) -> tuple[torch.Tensor, dict[str, Any]]:
    """Read (p, meta) written by ``save_lda_weights``; ValueError for a file of another format."""
    p, meta = _read_lda_weights(Path(path))
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path} is an LDA weights file of format {meta.get('format', 1)} (fitted before poolbench "
            f"used the paper's operator: per-map standardisation, block-centred, rescaled alpha); "
            f"this poolbench reads format {FORMAT}: refit it with poolbench fit-lda"
        )
    return p, meta


def _read_lda_weights(path: Path) -> tuple[torch.Tensor, dict[str, Any]]:
    if not path.exists():
        raise ValueError(f"LDA weights file not found: {path}")
    if path.suffix == ".pt":
        from ..tensorfile import TensorFileError, load_tensor_file

        blob = load_tensor_file(path, fix="write it again with poolbench fit-lda")
        if not isinstance(blob, dict) or "p" not in blob:
            raise TensorFileError(f"{path} is not an LDA weights file (no 'p'); write it with poolbench fit-lda")
        return torch.as_tensor(blob["p"], dtype=torch.float32), dict(blob.get("meta", {}))
    try:  # a weights file may be named by a config.json: a regular file only, never a FIFO or a link
        data = read_bytes(path, LARGE_FILE_CAP)
    except UnsafeFileError as exc:
        raise ValueError(str(exc)) from None
    if path.suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            meta = json.loads(str(blob["meta"])) if "meta" in blob else {}
            return torch.as_tensor(blob["p"], dtype=torch.float32), meta
    if path.suffix == ".json":
        blob = json.loads(data.decode("utf-8"))
        return torch.tensor(blob["p"], dtype=torch.float32), dict(blob.get("meta", {}))
    raise ValueError(f"LDA weights file must end in .pt, .npz or .json, got {path}")


def _as_maps(p: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
    """p as [M, H, W]. [N] and [M, N] (N = H*W) are shaped by ``size``, or taken as square maps."""
    if p.dim() == 3:
        maps = p
    elif p.dim() in (1, 2):
        flat = p.reshape(-1, p.shape[-1])
        n = flat.shape[1]
        if size is None:
            if math.isqrt(n) ** 2 != n:
                raise ValueError(f"LDA weights of length {n} are not a square map: give size=(H, W) or meta['size']")
            size = (math.isqrt(n), math.isqrt(n))
        if int(size[0]) * int(size[1]) != n:
            raise ValueError(
                f"LDA weights have {n} entries per map but size {size[0]}x{size[1]} needs {int(size[0]) * int(size[1])}"
            )
        maps = flat.view(-1, int(size[0]), int(size[1]))
    else:
        raise ValueError(f"LDA weights must be [H*W], [M, H*W] or [M, H, W], got shape {list(p.shape)}")
    if size is not None and tuple(maps.shape[-2:]) != (int(size[0]), int(size[1])):
        raise ValueError(f"LDA weights are {maps.shape[-2]}x{maps.shape[-1]} maps but size says {size[0]}x{size[1]}")
    return maps


def back_transform_mean(meta: dict[str, Any], channels: int | None = None) -> tuple[torch.Tensor, bool]:
    """(fbar [C] float32, per_map): the constants the output is shifted back by (Sec. 3.6)."""
    per_map = meta.get("normalization") == "per-map"
    mean = torch.as_tensor(meta.get("channel_mean") or [], dtype=torch.float32)
    if channels is not None and mean.numel() not in (0, channels):
        raise ValueError(f"LDA weights were fitted on {mean.numel()} channels, this layer has {channels}")
    return mean, per_map


def pool_with(p: torch.Tensor, z: torch.Tensor, mean: torch.Tensor, per_map: bool = False) -> torch.Tensor:
    """sum_n p_mn z_n + (1 - sum_n p_mn) fbar: p [..., M, N], z [B, C, N], mean [C] (or empty: zeros)
    -> [B, ..., C, M]. ``per_map``: the sample's own map mean in place of fbar."""
    out = torch.einsum("...mn,bcn->b...cm", p, z)
    shift = z.mean(2) if per_map else (mean.to(z) if mean.numel() else None)  # [B, C] or [C]
    if shift is None:
        return out
    lead = p.dim() - 2  # the [..] dims of p, between B and C in the output
    shift = shift.reshape(shift.shape[0] if per_map else 1, *([1] * lead), -1, 1)
    return out + (1 - p.sum(-1)).unsqueeze(-2) * shift


@register_pool("lda")
class LDAPool(GlobalPool):
    """sum_s p_s x_s + (1 - sum p) fbar(c) per channel with a fixed p (buffer); p = None is GAP."""

    p: torch.Tensor  # [H, W] or [M, H, W] (buffers, registered in __init__)
    channel_mean: torch.Tensor  # [C] or [0]

    def __init__(
        self,
        weights: Any = None,
        size: tuple[int, int] | None = None,
        channel_mean: Sequence[float] | None = None,
        channels: int | None = None,
    ):
        super().__init__()
        self.meta: dict[str, Any] = {}
        if isinstance(weights, (str, Path)):
            weights, self.meta = load_lda_weights(weights)
            size = size or self.meta.get("size")
        if weights is None:
            p = torch.zeros(0)  # empty = uniform at any size
        else:
            p = _as_maps(torch.as_tensor(weights, dtype=torch.float32).detach().cpu(), size)
        if channel_mean is not None:
            self.meta["channel_mean"] = list(channel_mean)
        mean, self.per_map = back_transform_mean(self.meta, channels)
        self.register_buffer("p", p)
        self.register_buffer("channel_mean", mean)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The map size the fitted weights apply to (None: uniform, any size); read by the checker."""
        return (int(self.p.shape[-2]), int(self.p.shape[-1])) if self.p.numel() else None

    def feat_mult(self) -> int:  # M weight maps -> M*C features
        return self.p.shape[0] if self.p.dim() == 3 else 1

    def _maps_for(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.p.numel() == 0:
            return x.new_full((1, h, w), 1.0 / (h * w), dtype=torch.float32)
        if tuple(self.p.shape[-2:]) != (h, w):
            have = "x".join(map(str, self.p.shape[-2:]))
            raise ValueError(f"lda weights were fitted on {have} maps but got {h}x{w}; fit p for this map size")
        return self.p.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().flatten(2)  # [B, C, N]
            p = self._maps_for(x).flatten(1)  # [M, N]
            if self.channel_mean.numel() not in (0, z.shape[1]):
                raise ValueError(
                    f"lda weights were fitted on {self.channel_mean.numel()} channels but got {z.shape[1]}"
                )
            out = pool_with(p, z, self.channel_mean, self.per_map)  # [B, C, M]
            return out.transpose(1, 2).flatten(1)  # [B, M*C]

    @torch.no_grad()
    def spatial_weights(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """p as [H, W] (M = 1) or [M, H, W]; for the uniform default, x gives the size."""
        if self.p.numel() == 0 and x is None:
            raise ValueError("lda without fitted weights is uniform at any size: pass x to get its map")
        maps = self._maps_for(x) if x is not None else self.p.float()
        return maps[0] if maps.shape[0] == 1 else maps

    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``): up to four of the M maps, signed (eigenvectors)."""
        w = self.spatial_weights(x)
        maps = w[None] if w.dim() == 2 else w
        return [WeightMap(f"map {i}", mp, signed=True) for i, mp in enumerate(maps[:4])]
