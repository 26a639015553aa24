"""A pool that concatenates [avg, max] (output 2*C wide) but forgets to say so (``feat_mult()``
returning 2): the contract check catches it and names the fix."""

import torch
import torch.nn as nn


class CustomPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
