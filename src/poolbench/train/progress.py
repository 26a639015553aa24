"""What a run tells its user while it trains: a bar on a terminal, one line per epoch elsewhere,
and the projected wall time from a few timed steps and from the first epoch. ``Progress`` is the
fit's callback that draws the bar and projects; its ``say`` is how the other output of the fit
(the run recorder's lines) reaches the user without breaking the bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from .callbacks.base import Callback, EpochEnd, FitStart, Member

TIMED_STEPS = (2, 5)  # steps [2, 5) of the first epoch: step 1 pays for warm-up (allocation, kernels)


def interactive() -> bool:
    """A progress bar only on a terminal; a log file gets whole lines (no carriage returns)."""
    return sys.stderr.isatty()


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{int(minutes // 60)} h {int(minutes % 60)} min"


class StepTimer:
    """Times steps ``TIMED_STEPS`` of the first epoch trained and reports the projection once."""

    def __init__(
        self, steps_per_epoch: int, epochs_left: int, device: torch.device, say: Callable[[str], None], name: str
    ):
        self.steps_per_epoch, self.epochs_left, self.device, self.say, self.name = (
            steps_per_epoch,
            epochs_left,
            device,
            say,
            name,
        )
        self.t0: float | None = None
        self.done = steps_per_epoch < TIMED_STEPS[1]  # too short an epoch to time: nothing to project

    def __call__(self, step: int) -> None:
        """Called after training step ``step`` (1-based) of the epoch."""
        if self.done or step not in TIMED_STEPS:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if step == TIMED_STEPS[0] or self.t0 is None:
            self.t0 = now
            return
        if self.t0 is None:  # the first timed step was never reported: nothing to project from
            return
        per_step = (now - self.t0) / (TIMED_STEPS[1] - TIMED_STEPS[0])
        total = per_step * self.steps_per_epoch * self.epochs_left
        self.say(
            f"{self.name}: projected {format_duration(total)} for {self.epochs_left} epochs "
            f"({per_step:.3f} s/step x {self.steps_per_epoch} steps/epoch, from "
            f"{TIMED_STEPS[1] - TIMED_STEPS[0]} timed steps; evaluation not included)"
        )
        self.done = True

    def epoch_done(self, seconds: float, epochs_left: int) -> None:
        """After the fit's first whole epoch (training and evaluation): the projection from it,
        which the few timed steps (no evaluation, one epoch's start) can only approximate."""
        if epochs_left > 0:
            self.say(
                f"{self.name}: projected {format_duration(seconds * epochs_left)} for the {epochs_left} epochs left "
                f"({seconds:.1f} s for the first epoch, evaluation included)"
            )


class Progress(Callback):
    """The output of one fit: a tqdm bar over epochs on a terminal (when ``enabled``), and ``say``
    for whole lines, written through the bar where there is one, else to ``log`` (or print).

    As the fit's callback it advances the bar after each epoch (the best and latest test accuracy
    of the members still training) and reports the projected wall time (``StepTimer``): from a few
    timed steps of the first epoch, then from that whole epoch."""

    def __init__(self, desc: str, total: int, initial: int, enabled: bool, log: Callable[[str], None] | None):
        self.bar: Any = None
        if enabled and interactive():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="ep", leave=False)
        # one whole line per epoch wherever there is no bar (a log file, --no-progress)
        self.log = log
        self.say: Callable[[str], None] = (
            (self.bar.write if self.bar is not None else print) if log is None else self._log_line
        )
        self.timer: StepTimer | None = None
        self.first_epoch, self.epochs, self.epoch_t0 = 0, 0, 0.0
        self.best: dict[str, float] = {}  # per live run: its best test accuracy so far
        self.latest: dict[str, float] = {}  # per run that finished the current epoch: its test accuracy

    def _log_line(self, line: str) -> None:
        """The caller's ``log`` (print: stdout) while a bar is drawn on the terminal (stderr): the bar
        is cleared first and drawn again below the line, so the line never overwrites it."""
        assert self.log is not None
        if self.bar is None:
            self.log(line)
            return
        with self.bar.external_write_mode():
            self.log(line)

    def advance(self, **postfix: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(**postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def on_fit_start(self, fit: FitStart) -> None:
        self.first_epoch, self.epochs = fit.start_epoch + 1, fit.epochs
        self.timer = StepTimer(fit.steps_per_epoch, fit.epochs - fit.start_epoch, fit.device, self.say, fit.name)

    def on_run_start(self, member: Member, checkpoint: dict[str, Any] | None, packed_with: list[str] | None) -> None:
        history = checkpoint["history"] if checkpoint is not None else []
        if history:
            self.best[member.run_id] = max(r["test_acc"] for r in history)

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch_t0 = time.perf_counter()
        self.latest.clear()

    def on_train_batch_end(self, step: int) -> None:
        if self.timer is not None:
            self.timer(step)

    def on_train_epoch_end(self, member: Member, end: EpochEnd) -> None:
        acc = end.record["test_acc"]
        self.latest[member.run_id] = acc
        self.best[member.run_id] = max(acc, self.best.get(member.run_id, acc))

    def on_diverged(self, member: Member, epoch: int, why: str, seconds: float) -> None:
        self.best.pop(member.run_id, None)  # a diverged run has no accuracy, not even a best one

    def on_epoch_end(self, epoch: int) -> None:
        if not self.latest:  # every member diverged: nothing to show or project
            return
        self.advance(test=f"{max(self.latest.values()):.2f}", best=f"{max(self.best.values()):.2f}")
        if epoch == self.first_epoch and self.timer is not None:
            self.timer.epoch_done(time.perf_counter() - self.epoch_t0, self.epochs - epoch)

    def on_fit_end(self) -> None:
        self.close()
