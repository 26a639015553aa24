"""Scaled dot-product attention over the positions of a map, split into heads (Vaswani et al.,
"Attention Is All You Need", NeurIPS 2017, Eq. 1 and Sec. 3.2.2): the one computation the
attention pools (``simpool``, ``map``, ``clip_attn``, ``pma``) share. Not a pool itself.
"""

from __future__ import annotations

import torch


def heads_for(channels: int, heads: int | None, pool: str, preferred: int = 8) -> int:
    """The number of heads: ``heads`` as given (it must split the channels evenly: one line saying
    so when it cannot), or, for None, the largest divisor of ``channels`` up to ``preferred``."""
    if heads is None:
        return max(h for h in range(1, preferred + 1) if channels % h == 0)
    if heads < 1 or channels % heads:
        raise ValueError(
            f"{pool}: {channels} channels do not split into {heads} heads; pass num_heads= a divisor of {channels}"
        )
    return heads


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """softmax(q_h k_h^T / sqrt(d_h)) v_h per head h, heads concatenated.

    q [B, L, C] (L queries), k and v [B, N, C] (N positions) -> [B, L, C]; d_h = C / heads.
    """
    b, n, c = k.shape
    d = c // heads
    qh = q.reshape(b, q.shape[1], heads, d).transpose(1, 2)  # [B, h, L, d]
    kh = k.reshape(b, n, heads, d).transpose(1, 2)  # [B, h, N, d]
    vh = v.reshape(b, n, heads, v.shape[2] // heads).transpose(1, 2)
    weights = torch.softmax(qh @ kh.transpose(-2, -1) / d**0.5, dim=-1)  # [B, h, L, N]
    return (weights @ vh).transpose(1, 2).reshape(b, q.shape[1], v.shape[2])


def positions(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, H*W, C] in fp32: the map as a set of position vectors."""
    return x.float().flatten(2).transpose(1, 2)
