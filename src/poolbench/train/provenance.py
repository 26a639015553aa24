"""Where a number came from: git commit, torch version, device, date, host."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from ..version import __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the checkout poolbench runs from, '+dirty' when it has uncommitted changes.

    Where the source tree travels without its git folder (a lent GPU machine gets a copy of the
    working tree), ``$POOLBENCH_COMMIT`` -- written next to the data by ``benchmarks/gpu_run.py
    --prepare`` -- names it instead, marked '(from POOLBENCH_COMMIT)'; else 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except Exception:
        told = os.environ.get("POOLBENCH_COMMIT", "").strip()
        return f"{told} (from POOLBENCH_COMMIT)" if told else "unknown"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device: torch.device) -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "poolbench_version": __version__,
        "device": device_name(device),
        "hostname": platform.node(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
