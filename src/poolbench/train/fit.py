"""The one epoch loop, for one run (K = 1) and for K runs packed into one network alike.

``fit`` drives a ``Trainer`` (what trains: ``engine.SingleTrainer`` or ``packed.PackedTrainer``)
and tells an open list of callbacks (``train.callbacks.Callback``: what is written and said, by
whom fit does not know) what happens, through hooks named for when they fire. Per epoch: set the
learning rate of the schedule, train, evaluate on the test (and validation) images, then judge
each member:

- a non-finite training loss, test (or validation) loss or logit, in training or in eval mode,
  ends that member as *diverged* at that epoch, never as an accuracy: a model whose outputs are
  NaN would otherwise score the share of the class argmax falls on. A pack goes on without it
  (``Trainer.without``), rebuilt from the survivors' exact states;
- every other member's epoch goes to the callbacks' ``on_train_epoch_end`` (the run recorder
  writes its checkpoint, metrics and line).

A crash goes to ``on_exception`` for every member still training (the recorder records "failed")
and is re-raised; Ctrl-C becomes ``RunInterrupted``, whose message says how to resume (nothing is
lost but the epoch in progress). ``on_fit_end`` comes last, however the fit ended.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from .callbacks.base import Callback, EpochEnd, FitStart, Member, Record
from .config import RunConfig


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit; its message is the one line that says how to resume."""


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


def fit(
    trainer: Trainer, callbacks: Sequence[Callback], checkpoints: Sequence[dict[str, Any] | None], name: str
) -> None:
    """Train every member to the end of its protocol (or its divergence), from the epoch its
    checkpoint ends at: ``checkpoints[k]`` is what member k (``trainer.members[k]``) resumes from
    (None: a fresh start; all members stand at the same epoch). ``name`` names the fit in its
    messages (a run id, "pack of 3"). Every hook goes to ``callbacks`` in their order."""
    members = [Member(k, c, c.run_id) for k, c in enumerate(trainer.members)]
    starts = {len(ckpt["history"]) if ckpt is not None else 0 for ckpt in checkpoints}
    if len(checkpoints) != len(members) or len(starts) != 1:
        raise ValueError(f"{name}: fit needs one checkpoint per member, all at one epoch (got epochs {sorted(starts)})")
    start, epochs = starts.pop(), trainer.members[0].protocol.epochs
    info = FitStart(name, tuple(members), start, epochs, trainer.steps_per_epoch, trainer.device, trainer.packed)
    live = list(members)  # the members still training; shrinks as members diverge
    for cb in callbacks:
        cb.on_fit_start(info)
    try:
        mates = [m.run_id for m in members] if trainer.packed else None
        for member, ckpt in zip(members, checkpoints, strict=True):
            for cb in _listening(callbacks, member):
                cb.on_run_start(member, ckpt, mates)
        try:
            _fit_epochs(trainer, live, callbacks, start, epochs, name)
        except Exception as exc:  # a crash is told, then re-raised for the caller to decide
            for member in live:
                for cb in _listening(callbacks, member):
                    cb.on_exception(member, exc)
            raise
        for member in live:
            for cb in _listening(callbacks, member):
                cb.on_run_finished(member)
    finally:
        for cb in callbacks:
            cb.on_fit_end()


def _fit_epochs(
    trainer: Trainer, live: list[Member], callbacks: Sequence[Callback], start: int, epochs: int, name: str
) -> None:
    """Epochs ``start + 1 .. epochs`` of the ``live`` members, which ``_fit_epoch`` leaves without
    a member the moment its ``on_diverged`` is told (so a crash is told only to the others)."""
    live_trainer: Trainer | None = trainer

    def on_step(step: int) -> None:
        for cb in callbacks:
            cb.on_train_batch_end(step)

    epoch = start + 1
    try:
        for epoch in range(start + 1, epochs + 1):
            if live_trainer is None:
                break
            for cb in callbacks:
                cb.on_epoch_start(epoch)
            live_trainer = _fit_epoch(live_trainer, live, callbacks, epoch, on_step)
            for cb in callbacks:
                cb.on_epoch_end(epoch)
    except KeyboardInterrupt:  # nothing is lost but the epoch in progress: say how to go on
        raise RunInterrupted(
            f"{name}: interrupted in epoch {epoch} of {epochs}; {epoch - 1} finished epochs are saved. "
            f"Run the same command again to resume from epoch {epoch}."
        ) from None


def _fit_epoch(
    trainer: Trainer, live: list[Member], callbacks: Sequence[Callback], epoch: int, on_step: Callable[[int], None]
) -> Trainer | None:
    """Epoch ``epoch`` (1-based) of every live member (``live[k]`` is the trainer's member k);
    removes the members that diverged from ``live`` and returns the trainer of the others."""
    t0 = time.perf_counter()
    lr = trainer.members[0].protocol.lr_at(epoch - 1)
    recs = [{"epoch": epoch, "lr": lr, **r} for r in trainer.train_epoch(epoch - 1, lr, on_step)]
    if any(divergence(r) is None for r in recs):  # a member diverged in training costs the others nothing
        _evaluate(trainer, recs)
    seconds = time.perf_counter() - t0
    at_start = list(live)
    why = [divergence(r) for r in recs]
    diverged = [k for k, w in enumerate(why) if w is not None]
    for k in diverged:
        live.remove(at_start[k])
        for cb in _listening(callbacks, at_start[k]):
            cb.on_diverged(at_start[k], epoch, str(why[k]), seconds)
    if not live:
        return None
    states = trainer.member_states()
    mates = [m.run_id for m in at_start] if trainer.packed else None
    for k, rec in enumerate(recs):
        if k in diverged:
            continue
        rec.pop("val_loss")  # checked, not recorded: metrics.jsonl keeps its schema
        rec["epoch_time_s"] = round(seconds, 3)
        for cb in _listening(callbacks, at_start[k]):
            cb.on_train_epoch_end(at_start[k], EpochEnd(dict(rec), *states[k], seconds, mates))
    return trainer.without(diverged) if diverged else trainer


def _listening(callbacks: Sequence[Callback], member: Member) -> list[Callback]:
    """The callbacks told ``member``'s run hooks: all but those bound to another run."""
    return [cb for cb in callbacks if cb.listens_to(member)]


def _evaluate(trainer: Trainer, recs: list[Record]) -> None:
    """Every member's test (and validation) loss and accuracy, into its record."""
    test_loss, test_acc = trainer.evaluate(trainer.test_x, trainer.test_y)
    val_loss: list[float | None] = [None] * len(recs)
    val_acc: list[float | None] = [None] * len(recs)
    if trainer.val_x is not None and trainer.val_y is not None:
        val_loss[:], val_acc[:] = trainer.evaluate(trainer.val_x, trainer.val_y)
    for rec, *values in zip(recs, test_loss, test_acc, val_acc, val_loss, strict=True):
        rec.update(zip(("test_loss", "test_acc", "val_acc", "val_loss"), values, strict=True))
