"""The analysis commands' loader (``fit-lda``, ``robustness``, ``show``): ``poolbench.trained``,
its refusals of a run's pool file naming the command line's flags (--trust-pool-file, --pool-file)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..trained import PoolFileFlags, TrainedRun, locate_data, resolve_run
from ..trained import load_trained as load_trained_run

__all__ = ["CLI_FLAGS", "device_of", "load_trained", "locate_data", "resolve_run"]

CLI_FLAGS = PoolFileFlags("--trust-pool-file", "--pool-file", " ")


def load_trained(
    run_dir: Path,
    device: str | None = None,
    full_train: bool = False,
    full_test: bool = False,
    trust_pool_file: bool = False,
    pool_file: str | None = None,
) -> TrainedRun:
    """``poolbench.trained.load_trained`` on a resolved run directory, refusals in flag names."""
    return load_trained_run(
        run_dir,
        device=device,
        full_train=full_train,
        full_test=full_test,
        trust_pool_file=trust_pool_file,
        pool_file=pool_file,
        flags=CLI_FLAGS,
    )


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
