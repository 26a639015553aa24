"""The local executor: the sweep's runs trained one after another in this process, no server.

This is the embedded default: nothing to install or start. A tqdm bar counts runs over the
grid; a run's own per-epoch bar (from the engine) appears beneath it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from ..train.config import RunConfig
from ..train.packing import plan_packs
from ..train.progress import interactive
from .base import Results, run_task

NAME = "local"


def auto_pack(has_gpu: bool) -> int:
    """Runs per task when ``--pack`` is not given: packing only pays off on a GPU."""
    return 8 if has_gpu else 1


class LocalExecutor:
    name = NAME

    def run(
        self,
        configs: Sequence[RunConfig],
        runs_dir: str,
        pack: int | None = None,
        progress: bool = True,
        run_fn: Callable | None = None,
        pack_fn: Callable | None = None,
    ) -> Results:
        """Train ``configs`` (none of them done yet) and return ``{run_id: result}``."""
        if pack is None:
            import torch

            pack = auto_pack(torch.cuda.is_available())
        tasks = plan_packs(configs, pack)
        results: Results = {}
        with tqdm(total=len(configs), desc="sweep", unit="run", disable=not (progress and interactive())) as bar:
            for task in tasks:
                results.update(run_task(task, str(runs_dir), run_fn, pack_fn, progress=progress))
                bar.update(len(task))
                bar.set_postfix(dict(Counter(r.get("status") for r in results.values())))
        return results


def create(ray_address: str | None = None) -> LocalExecutor:
    """The in-process executor (``ray_address`` is a Ray option: ignored here)."""
    return LocalExecutor()
