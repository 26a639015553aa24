"""What an executor is, as types: the ``Executor`` protocol and the task worker it runs.

Light on purpose (no torch): ``sweep`` and the command line name these types without loading the
training engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..train.callbacks import Callback
    from ..train.config import RunConfig

#: ``{run_id: result}``: a run's ``result.json`` contents, or a "held" note (see ``HELD``)
Results = dict[str, dict[str, Any]]

#: the status of a run another live process is training: no result of this process, nothing written
HELD = "held"


@runtime_checkable
class Executor(Protocol):
    """Where the runs of a sweep are trained.

    An executor's options are its constructor's keywords, each one it uses (the local one: how many
    runs per pack, progress, the device; Ray: the cluster's address, retries, packs, progress).
    ``run`` trains ``configs`` (none of them done yet; ``sweep.run_sweep`` skips done ones first)
    and returns every one's result: it plans them into tasks with the one pack planner
    (``train.packing.plan_packs``) and maps each task to a ``TaskWorker`` (by default
    ``executors.base.run_task``), so a run is trained, skipped, resumed and recorded identically
    whichever executor runs it.
    """

    name: str

    def run(self, configs: Sequence[RunConfig], runs_dir: str) -> Results: ...


class TaskWorker(Protocol):
    """The body a worker runs for one task (one run, or one pack of runs): ``base.run_task``.

    An executor takes it as a constructor keyword (default ``run_task``), so tests hand an executor
    a worker with a stand-in engine instead of threading one through production signatures.
    """

    def __call__(
        self,
        configs: list[RunConfig],
        runs_dir: str,
        *,
        device: str | None = None,
        progress: bool = False,
        executor: str = "local",
        reraise: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> Results: ...
