"""The Ray executor: one Ray task per run (or per pack of runs) on a real Ray cluster.

    poolbench sweep ... --executor ray                      # starts a local Ray cluster
    poolbench sweep ... --executor ray --ray-address auto   # joins a running one (`ray start --head`)

Every node must have poolbench installed and must see ``runs_dir`` at the same absolute path:
on a multi-node cluster that means a shared filesystem (NFS, Lustre, ...). Workers write only
their run directories; the driver gathers the results and rebuilds the index.

A task asks for one GPU when the cluster has GPUs (then runs are packed, 8 per task by
default), else one CPU. A killed worker is not a failed run: Ray retries its task
(``max_retries``), and the retry resumes the run from its last atomic checkpoint, so nothing
is trained twice and no result is duplicated. A task that dies more often than that is
recorded as a failed run, like any other crash.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Dict, Optional, Sequence

from tqdm.auto import tqdm

from ..train.config import RunConfig
from .base import Results, packing_fns, plan_tasks, record_failure, run_task
from .local import auto_pack


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the ray executor needs Ray: pip install 'poolbench[ray]'") from None
    return ray


class RayExecutor:
    name = "ray"

    def __init__(self, address: Optional[str] = None, max_retries: int = 3,
                 init_kwargs: Optional[Dict[str, Any]] = None):
        self.address = address
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})

    def run(self, configs: Sequence[RunConfig], runs_dir: str, pack: Optional[int] = None, progress: bool = True,
            run_fn: Optional[Callable] = None, pack_fn: Optional[Callable] = None) -> Results:
        """Submit ``configs`` (none of them done yet) as tasks; return ``{run_id: result}``."""
        ray = _import_ray()
        # Join a cluster someone else started (a test, a notebook) and leave it running;
        # shut down only what we started.
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address or None, log_to_driver=False, **self.init_kwargs)
        try:
            return self._run(ray, configs, str(runs_dir), pack, progress, run_fn, pack_fn)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, configs, runs_dir, pack, progress, run_fn, pack_fn) -> Results:
        gpus = ray.cluster_resources().get("GPU", 0)
        if pack is None:
            pack = auto_pack(gpus > 0)
        can_pack, default_pack_fn = packing_fns()
        tasks = plan_tasks(configs, pack, can_pack if (pack_fn or default_pack_fn) else None)
        # Exceptions inside a run are caught by run_task, so Ray retries only system failures
        # (a dead worker or node): exactly the failures where resuming is the right answer.
        remote = ray.remote(run_task).options(
            num_gpus=1 if gpus else 0, num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)
        pending = {remote.remote(t, runs_dir, run_fn, pack_fn, False, "ray"): t for t in tasks}
        results: Results = {}
        with tqdm(total=len(configs), desc="sweep (ray)", unit="run", disable=not progress) as bar:
            try:
                while pending:
                    [ref], _ = ray.wait(list(pending), num_returns=1)
                    task = pending.pop(ref)
                    try:
                        results.update(ray.get(ref))
                    except Exception as e:  # noqa: BLE001 - retries exhausted: record, go on
                        err = f"ray task lost after {self.max_retries} retries: {type(e).__name__}: {e}"
                        for cfg in task:
                            results[cfg.run_id] = record_failure(cfg, runs_dir, err, device="unknown (worker lost)")
                    bar.update(len(task))
                    bar.set_postfix(dict(Counter(r.get("status") for r in results.values())))
            except BaseException:
                # Ctrl-C (or any driver error): do not leave tasks training on a shared cluster.
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        return results
