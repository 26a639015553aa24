"""The run recorder: everything one run leaves on disk and says while it trains.

One ``RunRecorder`` per run owns its directory (``config.json``, ``checkpoint.pt``,
``metrics.jsonl``, ``pack.json``, ``result.json``; the format is ``poolbench.runs``) and its lines of
output. It is a callback of the training loop (``train.fit``, hooks in ``train.callbacks.base``)
bound to its one run (``bound_run``): of a pack's K recorders, each is told only its own member's
hooks (``on_run_start``, ``on_train_epoch_end``, ``on_diverged``, ``on_run_finished``,
``on_exception``). After every epoch the checkpoint (model, optimizer, metric history) is
written atomically and ``metrics.jsonl`` is rewritten from that history, so a run killed at any
moment resumes to exactly the metrics of an uninterrupted run.

``write_result`` is the one writer of ``result.json``: the recorder's last hooks and the sweep
executors' record of a run whose worker died (``executors.base.record_failure``) both go through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..runs import RunDir, RunResult, atomic_write_json
from ..suites import column_origin
from .callbacks.base import Callback, EpochEnd, Member, Record
from .config import CONFIG_SCHEMA, RunConfig
from .provenance import provenance

Say = Callable[[str], None]


def config_record(config: RunConfig) -> dict[str, Any]:
    """What ``config.json`` holds: the config plus its run id, protocol label, schema version, the
    column's origin (``suites.column_origin``: "benchmark", "poolbench" or None) and the pool's
    behaviour on a 1x1 map (``pool_1x1_record``); neither of the last two is part of the run's identity."""
    d = config.to_dict()
    d.update(
        run_id=config.run_id,
        protocol_label=config.protocol_label(),
        standard=config.is_standard,
        schema=CONFIG_SCHEMA,
        column_origin=column_origin(config.model, config.dataset),
    )
    d["pool_1x1"] = pool_1x1_record(config)
    return d


def pool_1x1_record(config: RunConfig) -> dict[str, Any] | None:
    """What the run's pool computes on a 1x1 map (``pools.one_by_one.probe_1x1``), probed when the
    run starts, where its pool file is already imported: the readers of run directories then know
    it without importing a file named in a config.json. None when the pool cannot be built here
    (a missing weights file ...): unknown, which the table treats as a different function."""
    from ..pools import build_pool
    from ..pools.one_by_one import probe_1x1

    try:
        if config.pool_file:
            from ..pools.loader import load_pool_file

            factory: Any = load_pool_file(config.pool_file)
        else:
            factory = config.pool
        with torch.random.fork_rng(devices=[]):  # the probe never moves the run's random stream
            found = probe_1x1(lambda c: build_pool(factory, channels=c, **config.pool_args))
    except Exception:  # noqa: BLE001 - any failure to build or run the pool here means "unknown"
        return None
    return {"relation": found.relation, "same_as_identity": found.same_as_identity}


def summarize(result: RunResult, history: list[dict[str, Any]]) -> None:
    """Fill ``result`` with the best-epoch test accuracy (the benchmark's metric), the final-epoch
    accuracy and, with a validation split, the test accuracy at the epoch of best validation accuracy."""
    best = max(history, key=lambda r: (r["test_acc"], -r["epoch"]))
    result["best_test_acc"], result["best_epoch"] = best["test_acc"], best["epoch"]
    result["final_test_acc"], result["best_val_epoch"] = history[-1]["test_acc"], None
    if history[0].get("val_acc") is not None:
        bv = max(history, key=lambda r: (r["val_acc"], -r["epoch"]))
        result["final_val_acc"] = history[-1]["val_acc"]
        result["test_acc_at_best_val"], result["best_val_epoch"] = bv["test_acc"], bv["epoch"]


def write_result(
    run: RunDir,
    config: RunConfig,
    status: str,
    history: list[dict[str, Any]],
    wall_s: float | None,
    device: torch.device,
    diverged_at: int | None = None,
    error: str | None = None,
    device_name: str | None = None,
) -> RunResult:
    """Write ``result.json`` (``RunResult``) and return it. The summary metrics are those of
    ``history`` for a "finished" run and None otherwise; ``device_name`` replaces the name of
    ``device`` in the provenance (a worker that was lost: the device it ran on is unknown)."""
    prov = provenance(device)
    if device_name is not None:
        prov["device"] = device_name
    prov["wall_time_s"] = None if wall_s is None else round(wall_s, 2)
    result: RunResult = {
        "status": status,
        "run_id": config.run_id,
        "epochs_completed": len(history),
        "diverged_at_epoch": diverged_at,
        "error": error,
        "protocol_label": config.protocol_label(),
        "standard": config.is_standard,
        "best_test_acc": None,
        "best_epoch": None,
        "final_test_acc": None,
        "test_acc_at_best_val": None,
        "provenance": prov,
    }
    if status == "finished" and history:
        summarize(result, history)
    run.write_result(result)
    return result


def log_epoch(rec: dict[str, Any], total: int) -> str:
    val = f" val {rec['val_acc']:.2f}" if rec.get("val_acc") is not None else ""
    return (
        f"epoch {rec['epoch']:>3}/{total} lr {rec['lr']:.4f} loss {rec['train_loss']:.4f} "
        f"train {rec['train_acc']:.2f} test {rec['test_acc']:.2f}{val} ({rec['epoch_time_s']:.1f}s)"
    )


class RunRecorder(Callback):
    """The directory and the output lines of one run, written through the hooks of its member.

    ``history`` (the finished epochs' records) and ``wall`` (seconds trained) are what the
    checkpoint carries; ``result`` is None until the run is over (diverged, failed or finished).
    ``name_lines`` puts the run id in front of each epoch line (several runs share one output).
    """

    def __init__(self, config: RunConfig, runs_dir: str | Path, device: torch.device, say: Say, name_lines=False):
        self.config, self.device, self.say, self.name_lines = config, device, say, name_lines
        self.run_id = self.bound_run = config.run_id
        self.run = RunDir(runs_dir, self.run_id)
        self.history: list[Record] = []
        self.wall = 0.0
        self.result: RunResult | None = None

    def on_run_start(self, member: Member, checkpoint: dict[str, Any] | None, packed_with: list[str] | None) -> None:
        """The run (re)starts: clean a killed write's temp files, write ``config.json`` (once) and,
        for a pack, ``pack.json``; take the history from the checkpoint and heal a metrics file that
        lagged it at the kill."""
        self.run.remove_stale_temp_files()
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.run.write_config(config_record(self.config))
        if packed_with is not None:
            atomic_write_json(self.run.pack, {"packed_with": packed_with, "k": len(packed_with)})
        if checkpoint is not None:
            self.history, self.wall = checkpoint["history"], checkpoint["wall_time_s"]
            self.run.write_metrics(self.history)
        if self.history:
            epochs, done = self.config.protocol.epochs, len(self.history)
            self.say(f"{self.run_id}: resumed from epoch {done} (of {epochs}); training epoch {done + 1} next")

    def on_train_epoch_end(self, member: Member, end: EpochEnd) -> None:
        """An epoch finished (finite): checkpoint, metrics, then its line."""
        self.wall += end.seconds
        self.history.append(end.record)
        ckpt = {
            "model": end.model_state,
            "optimizer": end.optimizer_state,
            "history": self.history,
            "wall_time_s": self.wall,
            "run_id": self.run_id,
        }
        if end.packed_with is not None:
            ckpt["packed_with"] = end.packed_with
        self.run.save_checkpoint(ckpt)
        self.run.write_metrics(self.history)
        line = log_epoch(end.record, self.config.protocol.epochs)
        self.say(f"{self.run_id}: {line}" if self.name_lines else line)

    def on_diverged(self, member: Member, epoch: int, why: str, seconds: float) -> None:
        """Epoch ``epoch`` (1-based) made the model non-finite: the run ends as diverged, no accuracy."""
        self.wall += seconds
        self.say(f"{self.run_id}: {why} in epoch {epoch}: diverged")
        self._end("diverged", diverged_at=epoch, error=why)

    def on_exception(self, member: Member, exc: BaseException) -> None:
        """A crash: recorded as "failed" (the checkpoint stays, so a retry resumes); on a full disk
        that cannot take the record either, the original error is the news and nothing is written."""
        with contextlib.suppress(OSError):
            self._end("failed", error=f"{type(exc).__name__}: {exc}")

    def on_run_finished(self, member: Member) -> None:
        self._end("finished")

    def _end(self, status: str, diverged_at: int | None = None, error: str | None = None) -> None:
        self.result = write_result(
            self.run, self.config, status, self.history, self.wall, self.device, diverged_at, error
        )
