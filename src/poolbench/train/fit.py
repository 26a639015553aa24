"""The one epoch loop, for one run (K = 1) and for K runs packed into one network alike.

``fit`` drives a ``Trainer`` (what trains: ``engine.SingleTrainer`` or ``packed.PackedTrainer``)
and one ``RunRecorder`` per member (what is written and said). Per epoch: set the learning rate of
the schedule, train, evaluate on the test (and validation) images, then judge each member:

- a non-finite training loss, test (or validation) loss or logit, in training or in eval mode,
  ends that member as *diverged* at that epoch, never as an accuracy: a model whose outputs are
  NaN would otherwise score the share of the class argmax falls on. A pack goes on without it
  (``Trainer.without``), rebuilt from the survivors' exact states;
- every other member's epoch is recorded (checkpoint, metrics, its line).

A crash is recorded as "failed" for every member still training and re-raised; Ctrl-C becomes
``RunInterrupted``, whose message says how to resume (nothing is lost but the epoch in progress).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from .config import RunConfig
from .progress import Progress, RunInterrupted, StepTimer
from .recorder import RunRecorder

Record = dict[str, Any]


class Trainer(Protocol):
    """K >= 1 models trained together, member k being run ``members[k]``."""

    members: list[RunConfig]
    packed: bool  # a pack's checkpoints name their pack mates
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    steps_per_epoch: int
    device: torch.device

    def train_epoch(self, epoch: int, lr: float, on_step: Callable[[int], None] | None) -> list[Record]:
        """Train epoch ``epoch`` (0-based) at ``lr``; per member ``{"train_loss", "train_acc"}``,
        the loss NaN when any of its logits was non-finite."""
        ...

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Per member (mean cross-entropy, accuracy %) on uint8 images ``x``; NaN loss as above."""
        ...

    def member_states(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Per member (model state_dict, optimizer state_dict), as its own run would hold them."""
        ...

    def without(self, drop: list[int]) -> Trainer | None:
        """The members not in ``drop``, at their exact current states; None when none is left."""
        ...


def divergence(rec: Record) -> str | None:
    """Why this epoch's record is a diverged model (a non-finite loss or logit), or None."""
    for key, what in (
        ("train_loss", "training loss (or a training logit)"),
        ("test_loss", "test loss (or an eval-mode logit)"),
        ("val_loss", "validation loss (or an eval-mode logit)"),
    ):
        v = rec.get(key)
        if v is not None and not math.isfinite(v):
            return f"{what} became {v}"
    return None


def fit(trainer: Trainer, recorders: Sequence[RunRecorder], progress: Progress, name: str) -> None:
    """Train every member to the end of its protocol (or its divergence), from the epoch its
    recorder's history ends at (all members stand at the same one). ``recorders[k]`` records
    ``trainer.members[k]``; ``name`` names the fit in its messages (a run id, "pack of 3")."""
    epochs = trainer.members[0].protocol.epochs
    start = len(recorders[0].history)
    timer = StepTimer(trainer.steps_per_epoch, epochs - start, trainer.device, progress.say, name)
    live: Trainer | None = trainer
    try:
        for epoch in range(start, epochs):
            if live is None:
                break
            t0 = time.perf_counter()
            live = _fit_epoch(live, [r for r in recorders if r.result is None], epoch, timer, progress)
            if epoch == start and live is not None:
                timer.epoch_done(time.perf_counter() - t0, epochs - epoch - 1)
    except KeyboardInterrupt:  # nothing is lost but the epoch in progress: say how to go on
        done = min(len(r.history) for r in recorders if r.result is None)
        raise RunInterrupted(
            f"{name}: interrupted in epoch {done + 1} of {epochs}; {done} finished epochs are saved. "
            f"Run the same command again to resume from epoch {done + 1}."
        ) from None
    except Exception as exc:  # a crash is recorded, then re-raised for the caller to decide
        for r in recorders:
            if r.result is None:
                r.on_exception(exc)
        raise
    finally:
        progress.close()
    for r in recorders:
        if r.result is None:
            r.on_fit_end()


def _fit_epoch(
    trainer: Trainer, recorders: list[RunRecorder], epoch: int, timer: StepTimer, progress: Progress
) -> Trainer | None:
    """One epoch of every member; returns the trainer of the members that go on."""
    t0 = time.perf_counter()
    lr = trainer.members[0].protocol.lr_at(epoch)
    recs = [{"epoch": epoch + 1, "lr": lr, **r} for r in trainer.train_epoch(epoch, lr, timer)]
    if any(divergence(r) is None for r in recs):  # a member diverged in training costs the others nothing
        _evaluate(trainer, recs)
    seconds = time.perf_counter() - t0
    why = [divergence(r) for r in recs]
    diverged = [k for k, w in enumerate(why) if w is not None]
    for k in diverged:
        recorders[k].on_diverged(epoch + 1, str(why[k]), seconds)
    if len(diverged) == len(recs):
        return None
    states = trainer.member_states()
    mates = [c.run_id for c in trainer.members] if trainer.packed else None
    for k, rec in enumerate(recs):
        if k in diverged:
            continue
        rec.pop("val_loss")  # checked, not recorded: metrics.jsonl keeps its schema
        rec["epoch_time_s"] = round(seconds, 3)
        recorders[k].on_train_epoch_end(rec, *states[k], seconds, packed_with=mates)
    kept = [r for r in recorders if r.result is None]
    best = max(x["test_acc"] for r in kept for x in r.history)
    progress.advance(test=f"{max(r.history[-1]['test_acc'] for r in kept):.2f}", best=f"{best:.2f}")
    return trainer.without(diverged) if diverged else trainer


def _evaluate(trainer: Trainer, recs: list[Record]) -> None:
    """Every member's test (and validation) loss and accuracy, into its record."""
    test_loss, test_acc = trainer.evaluate(trainer.test_x, trainer.test_y)
    val_loss: list[float | None] = [None] * len(recs)
    val_acc: list[float | None] = [None] * len(recs)
    if trainer.val_x is not None and trainer.val_y is not None:
        val_loss[:], val_acc[:] = trainer.evaluate(trainer.val_x, trainer.val_y)
    for rec, *values in zip(recs, test_loss, test_acc, val_acc, val_loss, strict=True):
        rec.update(zip(("test_loss", "test_acc", "val_acc", "val_loss"), values, strict=True))
