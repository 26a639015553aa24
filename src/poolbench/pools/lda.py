"""LDA pooling, the module side of "A Closed-Form Learned Pooling for Deep Classification Networks"
(Birodkar, Mobahi, Krishnan & Bengio, 2019, arXiv:1906.03808).

The paper learns one spatial weight per position, shared over channels, and obtains the weights
p in closed form for fixed network weights, from a spectral decomposition of class-separability
(LDA-style scatter) matrices. Fitting p is a separate command (``poolbench fit-lda``); this module
only *applies* a fixed p, held as a buffer so it travels with ``state_dict``.

What is computed, per sample and channel, with mu and sigma the channel's mean and std over
the H*W positions:

    pooled = (sum_s p_s (x_s - mu) / sigma) * sigma + mu  =  sum_s p_s x_s + (1 - sum_s p_s) mu

The normalisation puts every channel on one scale for the fit; a linear pool followed by the
inverse transform makes the sigmas cancel exactly, so the forward uses the right-hand side: it
needs no eps, cannot divide by a zero sigma (constant or 1x1 maps) and is exact in fp32. The
equality is checked in tests/pools/test_identities.py. Where sum p = 1 it is the p-weighted
average; the (1 - sum p) mu term keeps the output on the channel's scale for an unnormalised p
(a raw eigenvector). The fit must standardise features the same way (per sample, per channel,
over positions) before solving for p. Note: the method section of the paper was not available
to us when this was written (only its abstract and introduction); the normalisation above is the
project's reading (issue 2), not a verified transcription of the paper's equations.

``weights``: None (uniform p at any map size, i.e. exactly GAP; lets the contract run it), a
tensor of shape [H*W], [M, H*W] or [M, H, W] (a single [H, W] map: pass p[None]), or a path to
a .pt / .npz / .json file written by ``save_lda_weights``. M > 1 weight maps (several eigenvectors) give M*C outputs
(``feat_mult = M``), ordered [map 0: all channels, map 1: all channels, ...]. A fitted p applies
to its own map size only: another size raises ValueError naming both. On a 1x1 map the output is
x (p_1 x + (1 - p_1) x), whatever p.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import register_pool
from .base import GlobalPool

PathLike = Union[str, Path]


def save_lda_weights(path: PathLike, p: Any, meta: Optional[Dict[str, Any]] = None) -> Path:
    """Write p ([H*W], [M, H*W] or [M, H, W]) and a JSON-able ``meta`` dict.

    The format follows the suffix: .pt (torch.save), .npz (numpy, meta as a JSON string) or .json.
    Put ``"size": [H, W]`` in meta when p is flat and the map is not square.
    """
    path = Path(path)
    p = p.detach().cpu().float() if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p), dtype=torch.float32)
    meta = dict(meta or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt":
        torch.save({"p": p, "meta": meta}, path)
    elif path.suffix == ".npz":
        np.savez(path, p=p.numpy(), meta=json.dumps(meta))
    elif path.suffix == ".json":
        path.write_text(json.dumps({"p": p.tolist(), "meta": meta}, indent=1))
    else:
        raise ValueError(f"LDA weights file must end in .pt, .npz or .json, got {path}")
    return path


def load_lda_weights(path: PathLike) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read (p, meta) written by ``save_lda_weights``."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"LDA weights file not found: {path}")
    if path.suffix == ".pt":
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return torch.as_tensor(blob["p"], dtype=torch.float32), dict(blob.get("meta", {}))
    if path.suffix == ".npz":
        with np.load(path) as blob:
            meta = json.loads(str(blob["meta"])) if "meta" in blob else {}
            return torch.as_tensor(blob["p"], dtype=torch.float32), meta
    if path.suffix == ".json":
        blob = json.loads(path.read_text())
        return torch.tensor(blob["p"], dtype=torch.float32), dict(blob.get("meta", {}))
    raise ValueError(f"LDA weights file must end in .pt, .npz or .json, got {path}")


def _as_maps(p: torch.Tensor, size: Optional[Sequence[int]] = None) -> torch.Tensor:
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
            raise ValueError(f"LDA weights have {n} entries per map but size {size[0]}x{size[1]} "
                             f"needs {int(size[0]) * int(size[1])}")
        maps = flat.view(-1, int(size[0]), int(size[1]))
    else:
        raise ValueError(f"LDA weights must be [H*W], [M, H*W] or [M, H, W], got shape {list(p.shape)}")
    if size is not None and tuple(maps.shape[-2:]) != (int(size[0]), int(size[1])):
        raise ValueError(f"LDA weights are {maps.shape[-2]}x{maps.shape[-1]} maps but size says {size[0]}x{size[1]}")
    return maps


@register_pool("lda")
class LDAPool(GlobalPool):
    """sum_s p_s x_s + (1 - sum p) mu per channel with a fixed p (buffer); p = None is GAP."""

    def __init__(self, weights: Any = None, size: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.meta: Dict[str, Any] = {}
        if isinstance(weights, (str, Path)):
            weights, self.meta = load_lda_weights(weights)
            size = size or self.meta.get("size")
        if weights is None:
            p = torch.zeros(0)  # empty = uniform at any size
        else:
            p = _as_maps(torch.as_tensor(weights, dtype=torch.float32).detach().cpu(), size)
        self.register_buffer("p", p)

    @property
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
            mu = z.mean(dim=2)  # [B, C]
            out = torch.einsum("mn,bcn->bmc", p, z) + (1 - p.sum(dim=1))[None, :, None] * mu[:, None]
            return out.flatten(1)  # [B, M*C]

    @torch.no_grad()
    def spatial_weights(self, x: Optional[torch.Tensor] = None) -> torch.Tensor:
        """p as [H, W] (M = 1) or [M, H, W]; for the uniform default, x gives the size."""
        if self.p.numel() == 0 and x is None:
            raise ValueError("lda without fitted weights is uniform at any size: pass x to get its map")
        maps = self._maps_for(x) if x is not None else self.p.float()
        return maps[0] if maps.shape[0] == 1 else maps
