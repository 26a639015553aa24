"""Stand-ins for the engine: write a run directory the way ``train_run`` does, in microseconds.

They let the grid, the executors and the CLI be tested without training anything.
"""

from __future__ import annotations

from poolbench.runs import RunDir, atomic_write_json
from poolbench.train.config import RunConfig


class FakeEngine:
    """``run_fn`` / ``pack_fn`` that record their calls; ``fail`` / ``diverge`` pick runs by pool."""

    def __init__(self, fail=(), diverge=(), pack_fails=False):
        self.fail, self.diverge, self.pack_fails = set(fail), set(diverge), pack_fails
        self.calls: list[str] = []  # run ids, in call order
        self.packs: list[list[str]] = []

    def run(self, config: RunConfig, runs_dir, device=None, progress=True):
        self.calls.append(config.run_id)
        if config.pool in self.fail:
            raise RuntimeError(f"boom in {config.pool}")
        rd = RunDir(runs_dir, config.run_id)
        rd.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            rd.config,
            {
                **config.to_dict(),
                "run_id": config.run_id,
                "protocol_label": config.protocol_label(),
                "standard": config.is_standard,
            },
        )
        epochs = config.protocol.epochs
        rd.write_metrics([{"epoch": e, "test_acc": 10.0 * e} for e in range(1, epochs + 1)])
        status = "diverged" if config.pool in self.diverge else "finished"
        result = {
            "status": status,
            "run_id": config.run_id,
            "error": None,
            "best_test_acc": None if status == "diverged" else 10.0 * epochs,
            "diverged_at_epoch": 1 if status == "diverged" else None,
        }
        atomic_write_json(rd.result, result)
        return result

    def pack(self, configs, runs_dir, device=None, progress=True):
        self.packs.append([c.run_id for c in configs])
        if self.pack_fails:
            raise MemoryError("packed model does not fit")
        return [self.run(c, runs_dir) for c in configs]
