"""A deliberately broken user pool, in the benchmark's file convention (``CustomPool`` in a file).

The per-channel standard deviation over positions looks harmless, but ``std`` is the *unbiased*
estimator (divides by N - 1): on a 1x1 map N - 1 = 0 and the output is NaN; on a constant map
the gradient of sqrt at 0 is infinite. ``poolbench check examples/broken_std_pool.py:CustomPool``
rejects it before any training:

    finite: zeros, constant, huge, tiny, negative, random  FAIL  NaN output on 1x1 map; ...
"""

import torch
import torch.nn as nn


class CustomPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).std(dim=2)
