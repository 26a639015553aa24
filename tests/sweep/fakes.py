"""Stand-ins for the engine: write a run directory through the recorder's writers, in microseconds.

They let the grid, the executors and the CLI be tested without training anything. A test hands an
executor ``FakeEngine().worker`` (the production task body, ``executors.base.run_task``, with this
engine in place of ``train_run`` / ``train_packed``), or monkeypatches ``executors.base``'s
``train_run`` for a command that builds its own executor.
"""

from __future__ import annotations

import torch

from poolbench.runs import RunDir
from poolbench.train.config import RunConfig
from poolbench.train.recorder import config_record, write_result
from poolbench.train.resolve import resolve

CPU = torch.device("cpu")


class FakeEngine:
    """``train_run`` / ``train_packed`` stand-ins that record their calls; ``fail`` / ``diverge`` pick
    runs by pool."""

    def __init__(self, fail=(), diverge=(), pack_fails=False):
        self.fail, self.diverge, self.pack_fails = set(fail), set(diverge), pack_fails
        self.calls: list[str] = []  # run ids, in call order
        self.packs: list[list[str]] = []

    def run(self, config: RunConfig, runs_dir, device=None, progress=True, callbacks=()):
        config = resolve(config)  # as train_run does
        self.calls.append(config.run_id)
        if config.pool in self.fail:
            raise RuntimeError(f"boom in {config.pool}")
        rd = RunDir(runs_dir, config.run_id)
        rd.path.mkdir(parents=True, exist_ok=True)
        rd.write_config(config_record(config))
        history = [{"epoch": e, "test_acc": 10.0 * e} for e in range(1, config.protocol.epochs + 1)]
        rd.write_metrics(history)
        if config.pool in self.diverge:
            result = write_result(rd, config, "diverged", [], 0.0, CPU, diverged_at=1, error="loss became nan")
        else:
            result = write_result(rd, config, "finished", history, 0.0, CPU)
        return result

    def pack(self, configs, runs_dir, device=None, progress=True, callbacks=()):
        self.packs.append([c.run_id for c in configs])
        if self.pack_fails:
            raise MemoryError("packed model does not fit")
        return [self.run(c, runs_dir) for c in configs]

    def worker(self, configs, runs_dir, **options):
        """``executors.base.run_task`` training with this engine: a ``TaskWorker`` for an executor's
        ``worker=``. Swapped in for the call only, so it works in a Ray worker process too."""
        from poolbench.executors import base

        real = base.train_run, base.train_packed
        base.train_run, base.train_packed = self.run, self.pack
        try:
            return base.run_task(configs, runs_dir, **options)
        finally:
            base.train_run, base.train_packed = real
