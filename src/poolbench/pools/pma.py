"""PMA: pooling by multihead attention with one learned seed vector (Set Transformer).

Source: Lee, Lee, Kim, Kosiorek, Choi & Teh, "Set Transformer: A Framework for Attention-based
Permutation-Invariant Neural Networks", ICML 2019, Eq. (5)-(6) and (11), with k = 1 seed; the
positions of the map are the set Z:

    PMA_1(Z) = MAB(s, rFF(Z))
    MAB(X, Y) = LN(H + rFF(H)),  H = LN(X + Multihead(X, Y, Y))
    Multihead(Q, K, V) = concat_j softmax(Q W_j^Q (K W_j^K)^T / sqrt(d_h)) V W_j^V, times W^O

rFF (the paper's "any row-wise feedforward layer") is Linear + ReLU, as in the authors' code
(juho-lee/set_transformer); LN is a LayerNorm (``ln=False`` drops both, the paper's variant without
normalisation). The seed s starts N(0, 1/C). Heads: the largest divisor of C up to 4 (the paper's
4) unless ``num_heads`` is given. Output width C. On a 1x1 map the attention weight is 1 and the
output is LN(H + rFF(H)) with H = LN(s + W^O W^V rFF(x)): a function of x, not the identity, not
a constant. Computed in fp32 with autocast off.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_pool
from .base import GlobalPool
from .multihead import attend, heads_for, positions


@register_pool("pma")
class PMAPool(GlobalPool):
    """MAB(seed, rFF(positions)): one seed's multihead attention block over the map's positions."""

    def __init__(self, channels: int, num_heads: int | None = None, ln: bool = True):
        super().__init__()
        self.num_heads = heads_for(channels, num_heads, "pma", preferred=4)
        self.seed = nn.Parameter(torch.randn(channels) / channels**0.5)
        self.rff_in = nn.Linear(channels, channels)
        self.wq = nn.Linear(channels, channels)
        self.wk = nn.Linear(channels, channels)
        self.wv = nn.Linear(channels, channels)
        self.wo = nn.Linear(channels, channels)
        self.rff = nn.Linear(channels, channels)
        self.ln0 = nn.LayerNorm(channels) if ln else nn.Identity()
        self.ln1 = nn.LayerNorm(channels) if ln else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            z = torch.relu(self.rff_in(positions(x)))  # rFF(Z): [B, N, C]
            s = self.seed.float().expand(z.shape[0], 1, -1)
            h = self.ln0(s + self.wo(attend(self.wq(s), self.wk(z), self.wv(z), self.num_heads)))
            return self.ln1(h + torch.relu(self.rff(h)))[:, 0]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
