"""What every executor shares: the body a worker runs for a task (one run, or one pack of runs).

A worker writes only the run directories of its task. A crash is caught here and recorded as a
``result.json`` with status "failed" (plus ``error.log`` with the traceback), so one bad run never
stops a sweep; the next sweep tries a failed run again.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from collections.abc import Sequence
from typing import Any

from ..runs import RunDir
from ..train.callbacks import Callback
from ..train.config import RunConfig
from ..train.engine import auto_device, train_run
from ..train.packed import train_packed
from ..train.recorder import config_record, write_result
from .protocol import Results


def run_task(
    configs: list[RunConfig],
    runs_dir: str,
    *,
    device: str | None = None,
    progress: bool = False,
    executor: str = "local",
    reraise: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Results:
    """Train one run (or one pack of runs) and return ``{run_id: result}``.

    This is the whole of a worker's job, in-process or as a Ray task (``protocol.TaskWorker``). It
    is safe to execute twice for the same runs (a Ray retry after a killed worker): the engine skips
    a finished run and resumes an unfinished one from its last checkpoint. A crash is recorded per
    run; then it is the task's result (a sweep goes on), or with ``reraise`` it propagates after
    being recorded (``poolbench run`` stops and names it in one line). ``device`` None picks the
    worker's own (a GPU where there is one). ``callbacks`` (``train.callbacks``: a CSV logger ...)
    are told every run's hooks, after its recorder.
    """
    for cfg in configs:
        _log_attempt(cfg, runs_dir, executor)
    try:
        results: list[Any]
        if len(configs) == 1:
            results = [train_run(configs[0], runs_dir, device=device, progress=progress, callbacks=callbacks)]
        else:
            results = train_packed(configs, runs_dir, device=device, progress=progress, callbacks=callbacks)
        return {cfg.run_id: res for cfg, res in zip(configs, results, strict=True)}
    except Exception as e:  # noqa: BLE001 - a crash is a result of the sweep, recorded per run
        what = f"{type(e).__name__}: {e}"
        if len(configs) > 1:
            what = f"pack of {len(configs)} runs failed (retry with --pack 1 to isolate): {what}"
        tb = traceback.format_exc()
        failed = {cfg.run_id: _failed_result(cfg, runs_dir, what, tb) for cfg in configs}
        if reraise:
            raise
        return failed


def _failed_result(config: RunConfig, runs_dir: str, error: str, tb: str) -> dict[str, Any]:
    """The engine records its own crashes before re-raising: keep that result.json (written once)
    and add the traceback; record the failure ourselves only where nobody did."""
    rd = RunDir(runs_dir, config.run_id)
    result = rd.read_result()
    if result and result.get("status") == "failed":  # a stale one was cleared by _log_attempt
        rd.write_error_log(tb)
        return result
    return record_failure(config, runs_dir, error, tb)


def record_failure(
    config: RunConfig, runs_dir: str, error: str, tb: str | None = None, device: str | None = None
) -> dict[str, Any]:
    """Write a "failed" ``result.json`` (and ``error.log``) for a run, and return that result;
    ``device`` names the device where it is not this machine's (a lost worker's).

    A failed run keeps its checkpoint: the next sweep deletes nothing and resumes from it.
    """
    rd = RunDir(runs_dir, config.run_id)
    rd.path.mkdir(parents=True, exist_ok=True)
    rd.write_config(config_record(config))  # so that the index can show the failure beside its config
    if tb:
        rd.write_error_log(tb)
    return dict(
        write_result(rd, config, "failed", rd.read_metrics(), None, auto_device(), error=error, device_name=device)
    )


def _log_attempt(config: RunConfig, runs_dir: str, executor: str) -> None:
    """Append who tries this run to ``attempts.jsonl``, and clear a previous failure.

    The log shows retries (a killed Ray worker leaves two lines); a stale "failed" result.json
    is removed so that the engine resumes the run instead of returning the old failure; its
    error is kept in the log line.
    """
    rd = RunDir(runs_dir, config.run_id)
    rd.path.mkdir(parents=True, exist_ok=True)
    line = {
        "pid": os.getpid(),
        "hostname": platform.node(),
        "executor": executor,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    old = rd.read_result()
    if old and old.get("status") == "failed":
        line["previous_error"] = old.get("error")
        rd.result.unlink()
    rd.append_attempt(json.dumps(line, sort_keys=True))  # one short write: a line is whole or absent
