"""The one training step and the one evaluation, for one run (K = 1) and for K runs packed into one
network (K > 1) alike: a single run is a pack of one.

Each member gets its own run's batches (``inputs.epoch_batches(data, seed_k, epoch)``); the step
joins them into the network's one input (the batch itself for K = 1; for K > 1 the channel blocks
of ``packing.pack_inputs``) and reads the logits as [B, K, n]. The loss is sum_k CE_k: member k's
parameters meet only member k's activations, so d(sum_k CE_k)/d(theta_k) = dCE_k/d(theta_k) and
every member's gradient and SGD step are exactly its own run's (for K = 1 the sum is the run's
cross-entropy itself). The model's own randomness (dropout, stochastic pools) is reseeded every
epoch from ``inputs.seed_for(seed, epoch, "model")``: the global RNG for one run, each member's
``MemberRNG`` stream in a pack, so a resumed run draws what an uninterrupted one draws.

A non-finite logit marks its member's loss NaN for the epoch, even where the cross-entropy stayed
finite (a -inf logit), so ``fit``'s one check sees every divergence. Sums stay on the device:
one host sync per epoch (training) and per evaluated set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .build import autocast, step_begin
from .config import RunConfig
from .inputs import RunData, epoch_batches, seed_for
from .packing import pack_inputs

EVAL_BATCH = 1000
Record = dict[str, float]


def join_members(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The members' input batches as the network's one input: the batch itself for one run, the
    batches side by side along channels ([B, K*C, H, W]) for a pack."""
    return xs[0] if len(xs) == 1 else pack_inputs(xs)


def stack_members(ts: Sequence[torch.Tensor], dim: int) -> torch.Tensor:
    """``torch.stack(ts, dim)``; for one member a view (no copy on the single run's every step)."""
    return ts[0].unsqueeze(dim) if len(ts) == 1 else torch.stack(list(ts), dim)


def per_member(logits: torch.Tensor, k: int) -> torch.Tensor:
    """The network's logits as [B, K, n]: a single model's [B, n] or a pack's [B, K, n]."""
    return logits.reshape(logits.shape[0], k, -1)


def member_losses(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the loss to step on, sum_k CE_k; the [K] per-member mean cross-entropies, detached; the
    [B, K, n] logits) on the joined batch ``x`` with labels ``y`` [B, K]. For one run the loss is
    its cross-entropy itself: no op of the pack's bookkeeping reaches its autograd graph, so the
    single run's step is the plain training step. A model with extra training terms (auxiliary
    classifiers, pooling-weight regularisation) computes its own loss, ``training_loss(x, y,
    criterion)``: a single run's only (packing refuses such models)."""
    own_loss: Any = getattr(model, "training_loss", None)
    if own_loss is not None:
        loss, logits = own_loss(x, y[:, 0], F.cross_entropy)
        return loss, loss.detach().reshape(1), per_member(logits.detach(), 1)
    k = y.shape[1]
    out = model(x)
    if k == 1:  # a model's [B, n], or a pack of one's [B, 1, n] (the survivor of a pack) as a view
        logits = out.flatten(1)
        loss = F.cross_entropy(logits.float(), y[:, 0])
        return loss, loss.detach().reshape(1), per_member(logits.detach(), 1)
    logits = per_member(out, k)
    losses = torch.stack([F.cross_entropy(logits[:, j].float(), y[:, j]) for j in range(k)])
    return losses.sum(), losses.detach(), logits


def nonfinite_members(logits: torch.Tensor) -> torch.Tensor:
    """[K] bool (no host sync): does member k's block of the [B, K, n] logits hold a NaN or inf?"""
    return ~torch.isfinite(logits.detach()).all(dim=(0, 2))


def seed_model_randomness(model: nn.Module, members: Sequence[RunConfig], epoch: int, device: torch.device) -> None:
    """Reseed what dropout and stochastic pools draw from, as a pure function of (seed, epoch)."""
    seeds = [seed_for(c.seed, epoch, "model") for c in members]
    if len(seeds) == 1:
        torch.manual_seed(seeds[0])  # one run's modules draw from the global RNG
    else:
        rng: Any = model.rng  # a pack's members draw from their own streams (MemberRNG)
        rng.seed(seeds, device)


def _means(sums: torch.Tensor, bad: torch.Tensor, correct: torch.Tensor, n: int) -> tuple[list[float], list[float]]:
    """Per member (mean loss, NaN where ``bad``; accuracy %), read back in one host sync. The division
    is in float64 on the host, as ``float(sum) / n``."""
    k = len(sums)
    values = torch.cat([torch.where(bad, float("nan"), sums).double(), correct.double()]).tolist()
    return [v / n for v in values[:k]], [100.0 * c / n for c in values[k:]]


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: RunData,
    members: Sequence[RunConfig],
    epoch: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> list[Record]:
    """One epoch of the K = len(members) runs that ``model`` holds (one model, or their pack); per
    member ``{"train_loss", "train_acc"}``. ``on_step(i)`` is called after step i (1-based), e.g.
    to time a few steps. The members share the protocol and the speed switches of ``members[0]``."""
    cfg, k = members[0], len(members)
    model.train()
    seed_model_randomness(model, members, epoch, device)
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)  # a non-finite logit, per member
    n = 0
    streams = [epoch_batches(data, c.seed, epoch, cfg.protocol.batch_size, cfg.protocol.augment) for c in members]
    for batches in zip(*streams, strict=True):
        step_begin(cfg)
        x = join_members([data.inputs(xb) for xb, _ in batches])
        y = stack_members([yb for _, yb in batches], 1)  # [B, K]
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(cfg, device):
            loss, losses, logits = member_losses(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # sum_k CE_k: each member's gradient is its own run's (the module docstring)
        opt.step()
        loss_sum += losses * len(y)
        correct += (logits.detach().argmax(2) == y).sum(0)
        bad |= nonfinite_members(logits)
        n += len(y)
        if on_step is not None:
            on_step(-(-n // cfg.protocol.batch_size))
    train_loss, train_acc = _means(loss_sum, bad, correct, n)
    return [{"train_loss": loss, "train_acc": acc} for loss, acc in zip(train_loss, train_acc, strict=True)]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    data: RunData,
    members: Sequence[RunConfig],
    device: torch.device,
) -> tuple[list[float], list[float]]:
    """Per member (mean cross-entropy, accuracy %) on the uint8 images ``x`` that every member sees;
    a member's loss is NaN when any of its logits is non-finite (its accuracy is then meaningless)."""
    cfg, k = members[0], len(members)
    model.eval()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)
    for i in range(0, len(y), EVAL_BATCH):
        step_begin(cfg)
        xb = join_members([data.inputs(x[i : i + EVAL_BATCH])] * k)
        yb = y[i : i + EVAL_BATCH]
        if cfg.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(cfg, device):
            logits = per_member(model(xb), k).float()
        loss_sum += stack_members([F.cross_entropy(logits[:, j], yb, reduction="sum") for j in range(k)], 0)
        correct += (logits.argmax(2) == yb[:, None]).sum(0)
        bad |= nonfinite_members(logits)
    return _means(loss_sum, bad, correct, len(y))


class MemberSteps:
    """``train_epoch`` and ``evaluate`` of a ``fit.Trainer`` (one run's or a pack's) through the one
    step and the one evaluation above; the trainer holds ``step_model``, ``opt``, ``data``,
    ``members`` and ``device``."""

    step_model: nn.Module
    opt: torch.optim.Optimizer
    data: RunData
    members: list[RunConfig]
    device: torch.device

    def train_epoch(self, epoch: int, lr: float, on_step: Callable[[int], None] | None) -> list[Record]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        return train_epoch(self.step_model, self.opt, self.data, self.members, epoch, self.device, on_step)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        return evaluate(self.step_model, x, y, self.data, self.members, self.device)
