"""The run directory: the one place its format is written down, read and written.

A run directory ``<runs_dir>/<run_id>/`` holds ``config.json`` (what was trained),
``metrics.jsonl`` (one line per finished epoch), ``checkpoint.pt`` (model, optimizer and metric
history after the last finished epoch) and, last, ``result.json`` (``RunResult``); a packed run
adds ``pack.json``, the sweep executors ``attempts.jsonl`` and, for a crash, ``error.log``
(formats in docs/ARCHITECTURE.md). Training writes these files (``train.recorder``); ``results/``
and ``robustness/`` only read them.

Every write goes to a temporary file in the same directory, is fsync'ed and then renamed over the
target, so a process killed at any moment leaves either the old file or the new one, never half of
one (torchvision's references save checkpoints the same way).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypedDict

from .tensorfile import TensorFileError, load_tensor_file

PathLike = str | Path

#: The statuses of a run that is over: a diverged run is a result, not an accident, so neither is
#: trained again; a "failed" one (a crash) is retried.
DONE_STATUSES = ("finished", "diverged")
#: Where run directories go when neither ``--runs-dir`` nor ``$POOLBENCH_RUNS`` says otherwise.
DEFAULT_RUNS_DIR = "runs"
RUNS_ENV = "POOLBENCH_RUNS"


def default_runs_dir() -> Path:
    """``$POOLBENCH_RUNS`` if set (and not empty), else ``runs`` (relative to the working directory)."""
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR)


class _RunEnd(TypedDict):
    """The fields every ``result.json`` has (see ``RunResult``)."""

    status: str  # "finished" | "diverged" | "failed"
    run_id: str
    epochs_completed: int
    diverged_at_epoch: int | None
    error: str | None  # why it diverged or failed
    protocol_label: str
    standard: bool
    best_test_acc: float | None  # the benchmark's metric: the best epoch's test accuracy
    best_epoch: int | None
    final_test_acc: float | None
    test_acc_at_best_val: float | None  # with a validation split: test accuracy at the best val epoch
    provenance: dict[str, Any]  # git commit, torch version, device, host, date, wall_time_s


class RunResult(_RunEnd, total=False):
    """``result.json``: how a run ended and its summary metrics (all None unless "finished")."""

    best_val_epoch: int | None  # finished runs only
    final_val_acc: float  # finished runs with a validation split only


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """``write(f)`` into a temporary file beside ``path``, fsync, then rename it over ``path``: a
    reader sees the old file or the whole new one, never a part (a kill leaves only the temp file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


class RunFileError(ValueError):
    """A file of a run directory that cannot be read; the message names it and says what to do."""


def _damaged(path: Path, what: str) -> RunFileError:
    return RunFileError(f"{path} {what}; it was not written by poolbench or was damaged: move it away")


def read_json(path: PathLike) -> dict[str, Any] | None:
    """The parsed JSON object, or None when the file does not exist; RunFileError naming the file
    when it is not a JSON object (garbage, truncated, not UTF-8)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise _damaged(path, f"is not valid JSON ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise _damaged(path, f"holds a JSON {type(obj).__name__}, not an object")
    return obj


def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    """The epoch records of a ``metrics.jsonl`` ([] when there is none); RunFileError naming the
    file and the line when a line is not JSON or not an epoch record."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise _damaged(path, f"line {i} is not JSON ({type(e).__name__}: {str(e)[:120]})") from None
            if not isinstance(rec, dict) or "epoch" not in rec:
                raise _damaged(path, f"line {i} is not an epoch record")
            rows.append(rec)
    return rows


class RunDir:
    """The files of one run, by name."""

    def __init__(self, root: PathLike, run_id: str):
        self.run_id = run_id
        self.path = Path(root) / run_id
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.pt"
        self.result = self.path / "result.json"
        self.pack = self.path / "pack.json"
        self.error_log = self.path / "error.log"
        self.attempts = self.path / "attempts.jsonl"

    def read_config(self) -> dict[str, Any] | None:
        return read_json(self.config)

    def write_config(self, config: dict[str, Any]) -> None:
        """Write ``config.json`` once: a resumed (or retried) run keeps the record of its first start."""
        if not self.config.exists():
            atomic_write_json(self.config, config)

    def read_result(self) -> dict[str, Any] | None:
        return read_json(self.result)

    def write_result(self, result: RunResult) -> None:
        atomic_write_json(self.result, result)

    def is_done(self) -> bool:
        """Finished or diverged runs are done; failed ones may be retried."""
        r = self.read_result()
        return r is not None and r.get("status") in DONE_STATUSES

    def write_metrics(self, history: Iterable[dict[str, Any]]) -> None:
        """Rewrite the whole JSONL from the checkpoint's history (tiny), so it can never hold a
        duplicated or half-written epoch line after a kill and resume."""
        text = "".join(json.dumps(rec, sort_keys=True) + "\n" for rec in history)
        atomic_write_bytes(self.metrics, text.encode())

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        import torch  # here, not at the top: the command line's parsers read this module before torch loads

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint, buf.getvalue())

    def load_checkpoint(self, map_location: Any = "cpu") -> dict[str, Any] | None:
        """The checkpoint (tensors and plain data only, see ``tensorfile``), or None when there is none.

        A file that is refused or cannot be read raises ``TensorFileError`` naming it; moving it away
        restarts the run from its first epoch.
        """
        if not self.checkpoint.exists():
            return None
        fix = f"move it away (mv {self.checkpoint} {self.checkpoint}.bad) and the run restarts from epoch 1"
        ckpt = load_tensor_file(self.checkpoint, map_location=map_location, fix=fix)
        if not isinstance(ckpt, dict) or not {"model", "history"} <= set(ckpt):
            raise TensorFileError(f"{self.checkpoint} is not a poolbench checkpoint (no model/history); {fix}")
        return ckpt

    def remove_stale_temp_files(self) -> None:
        """Delete the ``.<name>.*.tmp`` files of atomic writes a killed process never renamed.

        Called when a run (re)starts: no other process writes into a run directory then."""
        if self.path.is_dir():
            for tmp in self.path.glob(".*.tmp"):
                with contextlib.suppress(OSError):  # gone already, or not ours to delete: nothing lost
                    tmp.unlink()


@dataclass
class LoadedRun:
    """What one run directory says: its config, its result (None while it is unfinished) and its
    finished epochs."""

    path: Path
    config: dict[str, Any]
    result: dict[str, Any] | None
    metrics: list[dict[str, Any]]


def load_run(path: PathLike) -> LoadedRun:
    """Read one run directory. RunFileError naming the file when it has no ``config.json`` or a
    file of it is not what poolbench writes."""
    path = Path(path)
    run = RunDir(path.parent, path.name)
    config = run.read_config()
    if config is None:
        raise RunFileError(f"{run.config} not found: {path} is not a run directory")
    return LoadedRun(path, config, run.read_result(), run.read_metrics())
