"""CLIP's attention pooling: the mean token attends to every position, with positional embeddings.

Source: Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
ICML 2021, Sec. 2.4 ("we replace the global average pooling layer with an attention pooling
mechanism ... a single layer of transformer-style multi-head QKV attention where the query is
conditioned on the global average-pooled representation of the image"), as in the released
``AttentionPool2d`` (openai/CLIP, ``clip/model.py``; timm ``AttentionPool2d``). With X the N
position vectors and P the positional embedding, [P_0; P_1..P_N]:

    t_0 = mean(X) + P_0,  t_s = x_s + P_s          N + 1 tokens, the mean token first
    y = W_c Attention(W_q t_0, W_k T, W_v T) + b_c  multi-head, softmax(q k^T / sqrt(d_h)) v, over all N + 1 tokens

P is learned for a ``size`` x ``size`` map (init N(0, 1/C), CLIP's), one row for the mean token. On
a map of another size the spatial rows, seen as a C-channel size x size image, are resized by
bicubic interpolation (``align_corners=False``, no antialiasing, as timm's
``resample_abs_pos_embed``) to H x W; the mean token's row is kept. On a 1x1 map there are two
tokens, x + P_0 and x + P(1x1): the output is a function of x (not the identity, not a constant).
Output width C. Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_pool
from .base import GlobalPool
from .multihead import attend, heads_for, positions


@register_pool("clip_attn")
class CLIPAttentionPool(GlobalPool):
    """The mean token's multi-head attention over [mean token, positions] plus positional embeddings."""

    def __init__(self, channels: int, num_heads: int | None = None, size: int = 8):
        super().__init__()
        num_heads = heads_for(channels, num_heads, "clip_attn")
        self.num_heads, self.size = num_heads, size
        self.positional_embedding = nn.Parameter(torch.randn(size * size + 1, channels) / channels**0.5)
        self.q_proj = nn.Linear(channels, channels)
        self.k_proj = nn.Linear(channels, channels)
        self.v_proj = nn.Linear(channels, channels)
        self.c_proj = nn.Linear(channels, channels)

    def embedding(self, h: int, w: int) -> torch.Tensor:
        """[1 + h*w, C]: the mean token's row, then the spatial rows resized (bicubic) to h x w."""
        pos = self.positional_embedding.float()
        if (h, w) == (self.size, self.size):
            return pos
        grid = pos[1:].T.reshape(1, -1, self.size, self.size)  # [1, C, size, size]
        spatial = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], spatial.flatten(2)[0].T], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = positions(x)  # [B, N, C]
            tokens = torch.cat([z.mean(1, keepdim=True), z], dim=1) + self.embedding(*x.shape[2:])
            q = self.q_proj(tokens[:, :1])
            return self.c_proj(attend(q, self.k_proj(tokens), self.v_proj(tokens), self.num_heads))[:, 0]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, size={self.size}"
