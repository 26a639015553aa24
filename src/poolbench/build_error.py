"""What a builder says when a run's configuration cannot be built: which field, which value, why, what to do.

A builder (a model, a paper's surgery, the auxiliary heads) raises ``BuildError(field, value,
problem, fix)`` naming the argument it was given; whoever passed a configuration field as that
argument renames it to the field's path in ``train.config.RunConfig`` (``sac.stages``,
``surgery.lda_downsample.layer``, ``pool_args.p``) with ``at``. ``train.preflight`` collects them as
``Problem`` records, and the command line maps the field to the flag that set it (``cli/_flags.py``):
no one reads an exception's text to learn what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a run's configuration: the field (a dotted path in ``RunConfig``), the
    value it holds, what is wrong and how to fix it."""

    field: str
    value: Any
    problem: str
    fix: str

    def line(self) -> str:
        """The problem as one line, naming the field (the command line names the flag instead)."""
        return f"{self.field}={self.value}: {self.problem}; {self.fix}"


class BuildError(ValueError):
    """A configuration value a builder cannot build with (a ValueError, so callers that refuse bad
    input in general still refuse it)."""

    def __init__(self, field: str, value: Any, problem: str, fix: str):
        self.problem = Problem(field, value, problem, fix)
        super().__init__(self.problem.line())

    @property
    def field(self) -> str:
        return self.problem.field

    def at(self, field: str) -> BuildError:
        """The same error, naming ``field`` (the caller's name for the argument that was at fault)."""
        p = self.problem
        return BuildError(field, p.value, p.problem, p.fix)
