"""The run directory: the one place its format is written down, read and written.

A run directory ``<runs_dir>/<run_id>/`` holds ``config.json`` (what was trained),
``metrics.jsonl`` (one line per finished epoch), ``checkpoint.pt`` (model, optimizer and metric
history after the last finished epoch) and, last, ``result.json`` (``RunResult``); a packed run
adds ``pack.json``, the sweep executors ``attempts.jsonl`` and, for a crash, ``error.log``
(formats in docs/ARCHITECTURE.md). Training writes these files (``train.recorder``); ``results/``
and ``robustness/`` only read them.

Every write goes through ``poolbench.fileio``: a temporary file in the same directory, fsync'ed and
renamed over the target, so a process killed at any moment leaves either the old file or the new
one, never half of one (torchvision's references save checkpoints the same way), and never through
a link someone planted. Every read takes regular files only, up to a size cap: a run directory may
be someone else's, and a FIFO or a link to ``/dev/zero`` there is a damaged run, not a hang. A run
id is one plain file name, so nothing read from a config.json places a file outside the runs
directory.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from .fileio import UnsafeFileError, append_line, atomic_write_bytes, read_bytes, remove_stale_temps
from .tensorfile import TensorFileError, load_tensor_file

PathLike = str | Path

#: The statuses of a run that is over: a diverged run is a result, not an accident, so neither is
#: trained again; a "failed" one (a crash) is retried.
DONE_STATUSES = ("finished", "diverged")
#: Every status a ``result.json`` may hold (a run still training has none).
RESULT_STATUSES = (*DONE_STATUSES, "failed")
#: Where run directories go when neither ``--runs-dir`` nor ``$POOLBENCH_RUNS`` says otherwise.
DEFAULT_RUNS_DIR = "runs"
RUNS_ENV = "POOLBENCH_RUNS"


def default_runs_dir() -> Path:
    """``$POOLBENCH_RUNS`` if set (and not empty), else ``runs`` (relative to the working directory)."""
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS_DIR)


#: A run id is a directory name: built from this closed alphabet only (no separator, no dot), so no
#: config text (a pool named ``x/../../y``) can make it a path that leaves its runs directory.
_RUN_ID_PART = re.compile(r"[A-Za-z0-9_-]+")
_NOT_RUN_ID_CHAR = re.compile(r"[^A-Za-z0-9_-]")
#: The longest part (model, dataset, pool) a run id is built from: a directory name has 255 bytes.
RUN_ID_PART_MAX = 64


def run_id_part(text: object) -> str:
    """``text`` as a piece of a run id: each character outside the run-id alphabet becomes ``_``
    and the piece is cut at ``RUN_ID_PART_MAX`` characters (the id's digest keeps ids distinct)."""
    return _NOT_RUN_ID_CHAR.sub("_", str(text))[:RUN_ID_PART_MAX] or "_"


def is_run_id(text: object) -> bool:
    """Whether ``text`` can be a run directory's name: the run-id alphabet only, at most 255 characters."""
    return isinstance(text, str) and len(text) <= 255 and _RUN_ID_PART.fullmatch(text) is not None


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


#: result.json fields that are accuracies (%) and epoch numbers: checked on every read.
ACCURACY_FIELDS = ("best_test_acc", "final_test_acc", "test_acc_at_best_val", "final_val_acc")
EPOCH_FIELDS = ("epochs_completed", "best_epoch", "diverged_at_epoch", "best_val_epoch")
_MAX_EPOCH = 10**9  # far beyond any protocol; keeps a stored epoch a 64-bit integer


def result_problem(result: dict[str, Any], run_id: str, config: dict[str, Any] | None) -> str | None:
    """Why ``result`` (a parsed ``result.json`` in the directory ``run_id``) is not a result poolbench
    can have written, or None when it is one.

    Checked: the status is one of ``RESULT_STATUSES``; the run id it names is its directory's and its
    ``config.json``'s (a copied directory cannot stand in for another run); each accuracy is absent,
    null or a finite percentage in [0, 100]; each epoch an integer >= 0; a finished run has its
    best-epoch accuracy; the text fields are text.
    """
    status = result.get("status")
    if status not in RESULT_STATUSES:
        return f"has status {_show(status)}, not one of {', '.join(RESULT_STATUSES)}"
    if result.get("run_id") != run_id:
        return f"names run id {_show(result.get('run_id'))}, but its directory is {run_id}"
    if config is not None and config.get("run_id", run_id) != run_id:
        return f"belongs to directory {run_id}, whose config.json names run id {_show(config.get('run_id'))}"
    if status == "finished" and result.get("best_test_acc") is None:
        return "says finished but has no best_test_acc"
    return _field_problem(result)


def _field_problem(result: dict[str, Any]) -> str | None:
    """Why a field of ``result`` holds what no trainer writes (None when none does)."""
    for key in ACCURACY_FIELDS:
        v = result.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 100:
            return f"has {key} {_show(v)}, not a percentage in [0, 100]"
    for key in EPOCH_FIELDS:
        v = result.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _MAX_EPOCH):
            return f"has {key} {_show(v)}, not an epoch number (an integer >= 0)"
    for key in ("error", "protocol_label"):
        if result.get(key) is not None and not isinstance(result[key], str):
            return f"has a {type(result[key]).__name__} as {key}, not text"
    if result.get("provenance") is not None and not isinstance(result["provenance"], dict):
        return "has a provenance that is not a JSON object"
    return None


def checked_result(path: Path, run_id: str, config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``result.json`` at ``path`` of the run ``run_id`` (None when there is none); RunFileError
    naming it when it is not a result poolbench can have written (``result_problem``)."""
    result = read_json(path)
    if result is None:
        return None
    problem = result_problem(result, run_id, config)
    if problem is not None:
        raise _damaged(path, problem)
    return result


def _show(value: object) -> str:
    """A value in a one-line message: its repr, short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """A run directory's JSON style (sorted keys, two-space indent), written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


class RunFileError(ValueError):
    """A file of a run directory that cannot be read; the message names it and says what to do."""


def _damaged(path: Path, what: str) -> RunFileError:
    return RunFileError(f"{path} {what}; it was not written by poolbench or was damaged: move it away")


#: The most poolbench reads of one JSON or JSONL file of a run directory: a config or a result is
#: a few kB, a year of epoch lines a few MB.
JSON_CAP = 16 << 20


def read_json(path: PathLike) -> dict[str, Any] | None:
    """The parsed JSON object, or None when the file does not exist; RunFileError naming the file
    when it is not a JSON object (garbage, truncated, not UTF-8) or not a regular file of a sane size."""
    path = Path(path)
    data = read_bytes_or_none(path)
    if data is None:
        return None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise _damaged(path, f"is not valid JSON ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise _damaged(path, f"holds a JSON {type(obj).__name__}, not an object")
    return obj


def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    """The epoch records of a ``metrics.jsonl`` ([] when there is none); RunFileError naming the
    file and the line when a line is not JSON or not an epoch record."""
    path = Path(path)
    data = read_bytes_or_none(path)
    if data is None:
        return []
    rows = []
    for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise _damaged(path, f"line {i} is not JSON ({type(e).__name__}: {str(e)[:120]})") from None
        if not isinstance(rec, dict) or "epoch" not in rec:
            raise _damaged(path, f"line {i} is not an epoch record")
        rows.append(rec)
    return rows


def read_bytes_or_none(path: PathLike, cap: int = JSON_CAP) -> bytes | None:
    """A run file's bytes, None when absent; RunFileError when it is not a regular file of at most
    ``cap`` bytes."""
    try:
        return read_bytes(path, cap)
    except FileNotFoundError:
        return None
    except UnsafeFileError as e:
        raise RunFileError(str(e)) from None


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is one plain file name; RunFileError for a path (``../x``, ``/abs``,
    ``a/b``), ``.``, ``..`` or an empty name: a run id read from a config.json must not place a
    file outside the runs directory."""
    if not isinstance(run_id, str) or run_id in ("", ".", "..") or any(c in run_id for c in "/\\\0"):
        raise RunFileError(
            f"run id {str(run_id)[:80]!r} is not a plain file name: it would place files outside the runs "
            f"directory; the config.json holding it was not written by poolbench"
        )
    return run_id


class RunDir:
    """The files of one run, by name."""

    def __init__(self, root: PathLike, run_id: str):
        self.run_id = check_run_id(run_id)
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
        """The run's ``result.json`` (None while the run has none). RunFileError naming it when it is
        not a result poolbench can have written (``result_problem``): such a run is never done,
        counted or shown, and nothing overwrites it."""
        return checked_result(self.result, self.run_id, read_json(self.config))

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

        buf = io.BytesIO()  # serialised first: a failing torch.save leaves no temporary file behind
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint, buf.getvalue())

    def write_error_log(self, traceback_text: str) -> None:
        atomic_write_bytes(self.error_log, traceback_text.encode("utf-8", errors="replace"))

    def append_attempt(self, line: str) -> None:
        """Append one line to ``attempts.jsonl`` (never through a link or into a FIFO)."""
        append_line(self.attempts, line)

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
        """Delete the ``.<name>.*.tmp`` files of atomic writes a killed process never renamed (the
        ones no live writer holds, see ``fileio.remove_stale_temps``)."""
        remove_stale_temps(self.path)


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
    config = read_json(path / "config.json")
    if config is None:
        raise RunFileError(f"{path / 'config.json'} not found: {path} is not a run directory")
    if config.get("run_id", path.name) != path.name:  # a copy standing in for another run
        raise _damaged(
            path / "config.json", f"names run id {_show(config.get('run_id'))}, but its directory is {path.name}"
        )
    result = checked_result(path / "result.json", path.name, config)
    return LoadedRun(path, config, result, read_jsonl(path / "metrics.jsonl"))
