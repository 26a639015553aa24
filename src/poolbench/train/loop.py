"""The training step and the evaluation of one run: an epoch of SGD steps and the test-set pass,
each with one host sync at its end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .build import autocast, step_begin
from .config import RunConfig
from .inputs import RunData, epoch_batches, seed_for

EVAL_BATCH = 1000


def training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, logits). Models with extra training terms (auxiliary classifiers, pooling-weight
    regularisation) implement ``training_loss(x, y, criterion)``; the rest are plain cross-entropy."""
    own_loss: Any = getattr(model, "training_loss", None)
    if own_loss is not None:
        return own_loss(x, y, F.cross_entropy)
    logits = model(x)
    return F.cross_entropy(logits.float(), y), logits


def nonfinite(t: torch.Tensor) -> torch.Tensor:
    """A 0-dim bool tensor (no host sync): does ``t`` hold a NaN or an infinity?"""
    return ~torch.isfinite(t.detach()).all()


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: RunData,
    config: RunConfig,
    epoch: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One epoch; ``on_step(i)`` is called after step i (1-based), e.g. to time a few steps.
    ``train_loss`` is NaN when any logit of the epoch was non-finite, even where the cross-entropy
    stayed finite (a -inf logit), so the caller's one check sees every divergence."""
    model.train()
    torch.manual_seed(seed_for(config.seed, epoch, "model"))  # dropout / stochastic pools
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bad = torch.zeros((), device=device, dtype=torch.bool)
    n = 0
    for xb, yb in epoch_batches(data, config.seed, epoch, config.protocol.batch_size, config.protocol.augment):
        step_begin(config)
        xb = data.inputs(xb)
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(config, device):
            loss, logits = training_loss(model, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(yb)
        correct += (logits.detach().argmax(1) == yb).sum()
        bad |= nonfinite(logits)
        n += len(yb)
        if on_step is not None:
            on_step(-(-n // config.protocol.batch_size))
    mean_loss = float("nan") if bool(bad) else float(loss_sum) / n
    return {"train_loss": mean_loss, "train_acc": 100.0 * float(correct) / n}


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, data: RunData, config: RunConfig, device: torch.device
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy %) over a uint8 image tensor, one host sync at the end.

    The loss is NaN when any logit is non-finite (see ``train_epoch``): the accuracy is then meaningless."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bad = torch.zeros((), device=device, dtype=torch.bool)
    for i in range(0, len(y), EVAL_BATCH):
        step_begin(config)
        xb = data.inputs(x[i : i + EVAL_BATCH])
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(config, device):
            logits = model(xb).float()
        loss_sum += F.cross_entropy(logits, y[i : i + EVAL_BATCH], reduction="sum")
        correct += (logits.argmax(1) == y[i : i + EVAL_BATCH]).sum()
        bad |= nonfinite(logits)
    return float("nan") if bool(bad) else float(loss_sum) / len(y), 100.0 * float(correct) / len(y)
