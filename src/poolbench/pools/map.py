"""MAP: multi-head attention pooling with a learned latent query, as timm's ``AttentionPoolLatent``
(``global_pool='map'``).

Source: the multihead attention pooling head of Zhai et al., "Scaling Vision Transformers", CVPR
2022 (Sec. 3.2, after Lee et al.'s Set Transformer PMA), in the form timm ships
(``timm/layers/attention_pool.py``): with X the map's N position vectors and one learned latent
query l (init truncated normal, std C^-1/2),

    o = W_o Attention(W_q l, W_k X, W_v X) + b_o      multi-head, softmax(q k^T / sqrt(d_h)) v
    y = o + MLP(norm(o))                              MLP: Linear(C, r C), GELU, Linear(r C, C)

``norm`` is the identity by default (timm's ``norm_layer=None``) or a LayerNorm (``norm=True``);
``qk_norm`` puts a LayerNorm on each head's queries and keys. Output width C. On a 1x1 map the
attention weight is 1 and y = o + MLP(norm(o)) with o = W_o (W_v x + b_v) + b_o: an affine map of x
followed by a residual MLP, not the identity and not a constant. Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool
from .multihead import attend, heads_for, positions


@register_pool("map")
class MAPPool(GlobalPool):
    """Attention of one learned latent query over the positions, projection, residual MLP."""

    def __init__(
        self,
        channels: int,
        num_heads: int | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        norm: bool = False,
    ):
        super().__init__()
        num_heads = heads_for(channels, num_heads, "map")
        self.num_heads = num_heads
        self.latent = nn.Parameter(torch.empty(channels))
        nn.init.trunc_normal_(self.latent, std=channels**-0.5, a=-2 * channels**-0.5, b=2 * channels**-0.5)
        self.q = nn.Linear(channels, channels, bias=qkv_bias)
        self.kv = nn.Linear(channels, 2 * channels, bias=qkv_bias)
        head_dim = channels // num_heads
        self.q_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(channels, channels)
        self.norm = nn.LayerNorm(channels) if norm else nn.Identity()
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))

    def _per_head(self, t: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        """LayerNorm over each head's slice of the channels (the identity without qk_norm)."""
        b, n, c = t.shape
        return norm(t.reshape(b, n, self.num_heads, c // self.num_heads)).reshape(b, n, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = positions(x)  # [B, N, C]
            q = self.q(self.latent.float()).expand(z.shape[0], 1, -1)
            k, v = self.kv(z).chunk(2, dim=2)
            o = self.proj(attend(self._per_head(q, self.q_norm), self._per_head(k, self.k_norm), v, self.num_heads))
            return (o + self.mlp(self.norm(o)))[:, 0]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
