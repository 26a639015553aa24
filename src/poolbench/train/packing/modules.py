"""The layers a packed network is made of, beyond PyTorch's own (HFTA's fused operators, exact).

A packed Conv2d or BatchNorm2d is a plain PyTorch layer K times as wide (``packer.py``); what needs
a module of its own is here: the K classifiers (``PackedLinear``), anything run per member
(``PerModel``: dropout, and ``PackedPool``: each member's own pool), and the whole packed network
(``PackedModel``) with the plan that maps its tensors back to the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...pools import pooled_width
from .rng import MemberRNG

#: One packed tensor: (packed name, member name, how, member shape); see ``PackedModel``.
Slot = tuple[str, str, Any, Any]


class PackedLinear(nn.Module):
    """K Linear layers over [B, K*in] -> [B, K*out], weights stacked as [K, out, in].

    HFTA fuses them into one ``baddbmm``; here each model's block is its own ``F.linear`` instead,
    because a batched matmul's weight gradient rounds differently from a Linear's and the classifier
    is a negligible share of the work (K tiny matmuls), so the packed head is bitwise a plain one.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, out, in]
        self.bias = None if bias is None else nn.Parameter(bias)  # [K, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(self.weight.shape[0], dim=1)
        return torch.cat(
            [F.linear(c, self.weight[k], None if self.bias is None else self.bias[k]) for k, c in enumerate(chunks)],
            dim=1,
        )

    def extra_repr(self) -> str:
        k, out, inp = self.weight.shape
        return f"models={k}, in_features={inp}, out_features={out}, bias={self.bias is not None}"


class PerModel(nn.Module):
    """Run module k on channel chunk k (dim 1) with model k's RNG state; concatenate the outputs.

    For the pool (every model keeps its own pool module: learnable, cross-channel or stochastic, it
    sees exactly what it sees in its separate run) and for dropout (each model's own random mask).
    """

    def __init__(self, modules: Sequence[nn.Module], rng: MemberRNG):
        super().__init__()
        self.members = nn.ModuleList(modules)
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(len(self.members), dim=1)
        # Concatenating along dim 1 keeps model k's block contiguous after the head's flatten(1),
        # whether a pool returns [B, width] or [B, C, 1, 1].
        return torch.cat([self.rng.call(k, m, chunks[k]) for k, m in enumerate(self.members)], 1)


class PackedPool(PerModel):
    """The head pool of K models: model k's pool on channels [k*C, (k+1)*C), outputs concatenated
    per model ([B, K * width]), so a widening pool's layout stays per model."""

    def out_features(self, in_channels: int) -> int:
        """The packed width: K members, each pooling ``in_channels // K`` channels."""
        k = len(self.members)
        return k * pooled_width(self.members[0], in_channels // k)


class PackedModel(nn.Module):
    """K models as one: ``forward([B, K*C, H, W]) -> [B, K, num_classes]``.

    ``plan`` lists every packed tensor as (packed name, member name, how, member shape), ``how``
    being "split" (model k owns slice k of dim 0), "shared" (one value for all: BN's step counter)
    or an int k (the tensor belongs to model k alone: its pool). ``slots[k]`` is the same seen from
    model k: {member name: (packed name, how, shape)}. ``member_params[k]``: model k's parameter
    names in ``named_parameters`` order (what its optimizer's state_dict indexes).
    """

    def __init__(self, net: nn.Module, k: int, rng: MemberRNG, plan: list[Slot], member_params: list[list[str]]):
        super().__init__()
        self.net, self.k, self.rng = net, k, rng
        self.plan, self.member_params = plan, member_params
        self.slots: list[dict[str, tuple[str, Any, Any]]] = [{} for _ in range(k)]
        for pname, mname, how, shape in plan:
            for i in range(k) if how in ("split", "shared") else [how]:
                self.slots[i][mname] = (pname, how, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return logits.reshape(logits.shape[0], self.k, -1)


def pack_inputs(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """K batches [B, C, H, W] -> one packed batch [B, K*C, H, W]."""
    return torch.cat(list(xs), dim=1)
