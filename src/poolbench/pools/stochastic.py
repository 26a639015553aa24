"""Stochastic pooling: in training, pick one position per channel with probability proportional
to its activation; in eval, the probability-weighted mean sum_s p_s a_s.

Source: Zeiler & Fergus, "Stochastic Pooling for Regularization of Deep Convolutional Neural
Networks", ICLR 2013, Eqs. (3)-(4) (training: sample from p_s = a_s / sum a) and Eq. (6)
("probabilistic weighting" at test time), applied globally.

The paper pools ReLU outputs; negative inputs (pre-ReLU maps) count as zero activation here. A
channel with no positive activation has sum a = 0: training then samples uniformly among zeros
and eval returns 0, instead of 0/0. Gradients flow to the sampled position (training) or through
the weighted mean (eval). On a 1x1 map both modes return max(x, 0).
"""

from __future__ import annotations

import torch

from . import register_pool
from .base import GlobalPool


@register_pool("stochastic")
class StochasticPool(GlobalPool):
    """Training: a_{s*} with s* ~ p; eval: sum_s p_s a_s; a = relu(x), p = a / sum a."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            a = x.float().clamp(min=0).flatten(2)  # [B, C, N]
            total = a.sum(dim=2)
            if self.training:
                # All-zero channels sample uniformly; multinomial rejects an all-zero row.
                probs = torch.where(total.unsqueeze(2) > 0, a, torch.ones_like(a)).detach()
                idx = torch.multinomial(probs.flatten(0, 1), 1).view(a.shape[0], a.shape[1], 1)
                return a.gather(2, idx).squeeze(2)
            # (a.a) / sum a; clamping the denominator keeps 0/0 out (the numerator is 0 there too).
            return (a * a).sum(dim=2) / total.clamp(min=1e-30)
