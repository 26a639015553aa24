"""Divergence as its own number: how many runs of a cell ended without an accuracy, and the rate
with its 95% interval.

A run is *diverged* when the trainer found the model non-finite (``result.json`` status
"diverged"), or, for a published run that is only a number, when its accuracy is at chance
(``is_collapse``): a network that collapsed to chance has learned nothing, and averaging its
chance accuracy into a mean would mix two questions (does it train? how well?). Accuracy
statistics use finished runs only; the divergence rate is reported beside them.

The interval of the rate is the Wilson score interval (Wilson 1927, *JASA* 22:209, eq. 2; scipy's
``binomtest(k, n).proportion_ci(method="wilson")``): unlike the normal interval it stays inside
[0, 1] and is not empty at 0 of 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

INTERVAL_METHOD = "Wilson score 95% interval"

#: an accuracy (%) within this many points of chance (100 / classes) is a collapse
COLLAPSE_TOLERANCE = 0.5
COLLAPSE_RULE = (
    f"a published accuracy within {COLLAPSE_TOLERANCE} points of chance (100 / classes; 1.0% on CIFAR-100, "
    f"10% on Fashion-MNIST) is a collapse: counted as diverged, never as an accuracy"
)


def is_collapse(accuracy: float, num_classes: int) -> bool:
    """Whether ``accuracy`` (%) is at chance for ``num_classes`` classes, within ``COLLAPSE_TOLERANCE``."""
    return abs(accuracy - 100.0 / num_classes) <= COLLAPSE_TOLERANCE


def wilson_interval(diverged: int, runs: int) -> tuple[float, float] | None:
    """Wilson score 95% interval of ``diverged / runs`` (fractions); None without runs."""
    if runs <= 0:
        return None
    ci = stats.binomtest(diverged, runs).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class DivergenceCount:
    """Finished and diverged runs of one cell (failed and unfinished runs are neither)."""

    finished: int
    diverged: int

    @property
    def runs(self) -> int:
        return self.finished + self.diverged

    @property
    def rate(self) -> float | None:
        return self.diverged / self.runs if self.runs else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.diverged, self.runs)

    def text(self) -> str:
        """'1 of 3 diverged, 33% [6%, 79%]' or '0 of 3 diverged, 0% [0%, 56%]'."""
        if not self.runs:
            return "no finished or diverged run"
        lo, hi = self.interval or (0.0, 0.0)
        return f"{self.diverged} of {self.runs} diverged, {self.rate:.0%} [{lo:.0%}, {hi:.0%}]"
