"""Run directories: atomic writes and the files a run leaves behind.

A run directory holds ``config.json``, ``metrics.jsonl``, ``checkpoint.pt`` and, last,
``result.json`` (formats in docs/ARCHITECTURE.md). Every write goes to a temporary file in the
same directory, is fsync'ed and then renamed over the target, so a process killed at any moment
leaves either the old file or the new one, never half of one (torchvision's references save
checkpoints the same way).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from ..tensorfile import TensorFileError, load_tensor_file

PathLike = str | Path


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
        raise RunFileError(
            f"{path} is not valid JSON ({type(e).__name__}: {str(e)[:120]}); it was not written by "
            f"poolbench or was damaged: move it away"
        ) from None
    if not isinstance(obj, dict):
        raise RunFileError(
            f"{path} holds a JSON {type(obj).__name__}, not an object; it was not written by "
            f"poolbench or was damaged: move it away"
        )
    return obj


class RunDir:
    """The files of one run, by name."""

    def __init__(self, root: PathLike, run_id: str):
        self.run_id = run_id
        self.path = Path(root) / run_id
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.pt"
        self.result = self.path / "result.json"

    def read_result(self) -> dict[str, Any] | None:
        return read_json(self.result)

    def is_done(self) -> bool:
        """Finished or diverged runs are done; failed ones may be retried."""
        r = self.read_result()
        return bool(r) and r.get("status") in ("finished", "diverged")

    def write_metrics(self, history: Iterable[dict[str, Any]]) -> None:
        """Rewrite the whole JSONL from the checkpoint's history (tiny), so it can never hold a
        duplicated or half-written epoch line after a kill and resume."""
        text = "".join(json.dumps(rec, sort_keys=True) + "\n" for rec in history)
        atomic_write_bytes(self.metrics, text.encode())

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.exists():
            return []
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    def save_checkpoint(self, state: dict[str, Any]) -> None:
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
                try:
                    tmp.unlink()
                except OSError:
                    pass
