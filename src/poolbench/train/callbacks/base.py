"""What ``train.fit`` tells a callback, and when: the hooks of one fit, after Lightning's callbacks.

A callback subclasses ``Callback`` and overrides the hooks it uses; every hook is a no-op here.
``fit`` calls the callbacks of its list in order, for each hook. A fit trains K >= 1 runs at once
(K > 1: a pack), so the hooks come in two kinds:

- hooks of the fit (once per fit): ``on_fit_start`` (a ``FitStart``: name, members, epochs),
  ``on_epoch_start``, ``on_train_batch_end`` (after each training step), ``on_epoch_end`` (after
  every member's epoch hooks) and ``on_fit_end`` (always last, however the fit ended: finished,
  diverged, interrupted or crashed);
- hooks of one run (once per member the event concerns): ``on_run_start``, ``on_train_epoch_end``,
  ``on_diverged``, ``on_run_finished``, ``on_exception``. Each gets the member (``Member``: its index
  in the pack, its config and its run id) first, so a callback that serves every run keys its state
  by ``member.run_id``. A callback bound to a single run (``train.recorder.RunRecorder``: one per
  member) sets ``bound_run`` to its run id, and fit tells it that run's hooks only.

After ``on_diverged`` or ``on_exception`` a member gets no other run hook; a member that trains to
its last epoch gets ``on_run_finished``. Epochs are numbered from 1 in every hook, as in
``metrics.jsonl``. The record and the states a hook receives are read-only: the record is each
callback's own copy, the states are the live model's tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line imports this package before torch loads (``--log-csv``)
    import torch

    from ..config import RunConfig

Record = dict[str, Any]


@dataclass(frozen=True)
class Member:
    """One run of a fit: its place in the pack (0 for a single run; a member keeps its index when
    others diverge), its config and its run id."""

    index: int
    config: RunConfig
    run_id: str


@dataclass(frozen=True)
class FitStart:
    """What a fit is, told once before its first epoch."""

    name: str  # names the fit in messages: a run id, "pack of 3"
    members: tuple[Member, ...]
    start_epoch: int  # the finished epochs every member resumes from (0 on a fresh start)
    epochs: int  # the protocol's epochs: the fit trains epochs start_epoch + 1 .. epochs
    steps_per_epoch: int
    device: torch.device
    packed: bool  # K > 1 runs trained as one network


@dataclass(frozen=True)
class EpochEnd:
    """A member's epoch that ended finite, as ``on_train_epoch_end`` tells it."""

    record: Record  # its line of metrics.jsonl (epoch, lr, train/test loss and accuracy, val_acc, epoch_time_s)
    model_state: dict[str, Any]  # the member's model state_dict, as its own run would hold it
    optimizer_state: dict[str, Any]  # and its optimizer's
    seconds: float  # the epoch's wall time (training and evaluation)
    packed_with: list[str] | None  # the run ids of its live pack; None for a single run


class Callback:
    """A listener of ``train.fit``: override the hooks you need (see the module's docstring)."""

    bound_run: str | None = None  # a run id: told only that member's run hooks; None: every member's

    def listens_to(self, member: Member) -> bool:
        return self.bound_run is None or self.bound_run == member.run_id

    def on_fit_start(self, fit: FitStart) -> None:
        """Before anything is trained, once per fit."""

    def on_run_start(self, member: Member, checkpoint: dict[str, Any] | None, packed_with: list[str] | None) -> None:
        """A run (re)starts: ``checkpoint`` is what its last finished epoch saved (``history``,
        ``wall_time_s``, states), None on a fresh start; ``packed_with`` the run ids of its pack
        (None for a single run)."""

    def on_epoch_start(self, epoch: int) -> None:
        """Epoch ``epoch`` of every live member is about to train."""

    def on_train_batch_end(self, step: int) -> None:
        """Training step ``step`` (1-based, within the epoch) of every live member is done."""

    def on_train_epoch_end(self, member: Member, end: EpochEnd) -> None:
        """A member's epoch ended finite: its record, states and wall time (``EpochEnd``)."""

    def on_diverged(self, member: Member, epoch: int, why: str, seconds: float) -> None:
        """A member's epoch made it non-finite (``why``: which loss or logit became what): its run
        ends as diverged, with no accuracy."""

    def on_epoch_end(self, epoch: int) -> None:
        """Every member's hooks of epoch ``epoch`` ran."""

    def on_run_finished(self, member: Member) -> None:
        """A member trained its last epoch."""

    def on_exception(self, member: Member, exc: BaseException) -> None:
        """The fit crashed while this member was training (the error is re-raised after the hooks).
        Ctrl-C is no crash: it ends the fit with only ``on_fit_end``."""

    def on_fit_end(self) -> None:
        """Last, once per fit, however it ended."""
