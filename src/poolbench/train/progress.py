"""What a run tells its user while it trains: a bar on a terminal, one line per epoch elsewhere,
the projected wall time from a few timed steps, and one line on how to resume after Ctrl-C."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch

TIMED_STEPS = (2, 5)  # steps [2, 5) of the first epoch: step 1 pays for warm-up (allocation, kernels)


def interactive() -> bool:
    """A progress bar only on a terminal; a log file gets whole lines (no carriage returns)."""
    return sys.stderr.isatty()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; its message is the one line that says how to resume."""


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


class Progress:
    """The output of one fit: a tqdm bar over epochs on a terminal (when ``enabled``), and ``say``
    for whole lines, written through the bar where there is one, else to ``log`` (or print)."""

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
