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
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

import torch

PathLike = Union[str, Path]


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: PathLike) -> Optional[Dict[str, Any]]:
    """The parsed file, or None when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


class RunDir:
    """The files of one run, by name."""

    def __init__(self, root: PathLike, run_id: str):
        self.run_id = run_id
        self.path = Path(root) / run_id
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / "checkpoint.pt"
        self.result = self.path / "result.json"

    def read_result(self) -> Optional[Dict[str, Any]]:
        return read_json(self.result)

    def is_done(self) -> bool:
        """Finished or diverged runs are done; failed ones may be retried."""
        r = self.read_result()
        return bool(r) and r.get("status") in ("finished", "diverged")

    def write_metrics(self, history: Iterable[Dict[str, Any]]) -> None:
        """Rewrite the whole JSONL from the checkpoint's history (tiny), so it can never hold a
        duplicated or half-written epoch line after a kill and resume."""
        text = "".join(json.dumps(rec, sort_keys=True) + "\n" for rec in history)
        atomic_write_bytes(self.metrics, text.encode())

    def read_metrics(self) -> List[Dict[str, Any]]:
        if not self.metrics.exists():
            return []
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    def save_checkpoint(self, state: Dict[str, Any]) -> None:
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint, buf.getvalue())

    def load_checkpoint(self, map_location: Any = "cpu") -> Optional[Dict[str, Any]]:
        if not self.checkpoint.exists():
            return None
        return torch.load(self.checkpoint, map_location=map_location, weights_only=False)
