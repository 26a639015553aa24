"""The local executor: the sweep's runs trained one after another in this process, no server.

This is the embedded default: nothing to install or start. A tqdm bar counts runs over the
grid (when there is more than one task); a run's own per-epoch bar (from the engine) appears
beneath it.

Several local processes may share one runs directory (two terminals, or a reproduction started
twice): each run is claimed (``claims.claimed``: an flock the kernel drops when its process ends)
before it is trained, and a run another live process holds is left to it, reported as "held"
(never a silent success); a dead process's claim is taken over and its run resumes.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..runs import RunDir
from ..train.callbacks import Callback
from ..train.config import RunConfig
from ..train.packing import plan_packs
from ..train.progress import interactive
from . import base, claims, register_executor
from .protocol import HELD, Results, TaskWorker


def auto_pack(has_gpu: bool) -> int:
    """Runs per task when ``pack`` is not given: packing only pays off on a GPU."""
    return 8 if has_gpu else 1


@register_executor("local")
class LocalExecutor:
    """In-process, task after task, each run claimed first.

    ``pack``: most runs per task (None: 8 on a GPU, 1 on CPU); ``progress``: bars on a terminal;
    ``device``: where to train (None: a GPU where there is one); ``stop_on_error``: the first crash
    (recorded in its run directory as in any sweep) propagates instead of being the run's result,
    for a command that names it and exits (``poolbench run``); ``callbacks``: told every run's
    hooks (``train.callbacks``: a CSV logger ...); ``worker``: the task body (``base.run_task``,
    looked up when the executor is built).
    """

    name = "local"

    def __init__(
        self,
        pack: int | None = None,
        progress: bool = True,
        device: str | None = None,
        stop_on_error: bool = False,
        callbacks: Sequence[Callback] = (),
        worker: TaskWorker | None = None,
    ):
        self.pack, self.progress, self.device, self.stop_on_error = pack, progress, device, stop_on_error
        self.callbacks = list(callbacks)
        self.worker: TaskWorker = worker if worker is not None else base.run_task

    def run(self, configs: Sequence[RunConfig], runs_dir: str) -> Results:
        """Train ``configs`` (none of them done yet) and return ``{run_id: result}``; a run another
        process holds gets a "held" note (nothing written), one it finished meanwhile its result."""
        pack = self.pack
        if pack is None:
            import torch

            pack = auto_pack(torch.cuda.is_available())
        tasks = plan_packs(configs, pack)
        results: Results = {}
        bar_on = self.progress and interactive() and len(tasks) > 1  # one task: its own bar says it all
        with tqdm(total=len(configs), desc="sweep", unit="run", disable=not bar_on) as bar:
            for task in tasks:
                with contextlib.ExitStack() as held:
                    mine = []
                    for cfg in task:
                        run = RunDir(runs_dir, cfg.run_id)
                        if not held.enter_context(claims.claimed(run.path)):
                            results[cfg.run_id] = held_note(cfg.run_id, run.path)
                        elif run.is_done():  # finished by the process that held it a moment ago
                            results[cfg.run_id] = dict(run.read_result() or {})
                        else:
                            mine.append(cfg)
                    if mine:
                        results.update(self._train(mine, str(runs_dir)))
                bar.update(len(task))
                bar.set_postfix(dict(Counter(r.get("status") for r in results.values())))
        return results

    def _train(self, task: list[RunConfig], runs_dir: str) -> Results:
        return self.worker(
            task,
            runs_dir,
            device=self.device,
            progress=self.progress,
            executor=self.name,
            reraise=self.stop_on_error,
            callbacks=self.callbacks,
        )


def held_note(run_id: str, path: Path) -> dict[str, str]:
    """What a run another live process holds gets in place of a result (nothing is written)."""
    return {
        "run_id": run_id,
        "status": HELD,
        "error": f"another live process is training it (its claim: {path}.lock); "
        "run the same command again when that process is done",
    }
