"""Load a trained run directory back into (config, data, model) for the analysis commands
(``fit-lda``, ``robustness``, ``show``): the model is rebuilt exactly as the engine built it and the
latest checkpoint is loaded into it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..runs import RunDir, read_json
from ..train import RunConfig, engine
from ..train.config import file_sha256


def resolve_run(run: str, runs_dir: str) -> Path:
    """A run directory from a path or a run id under ``runs_dir``; ValueError saying what is missing."""
    for cand in (Path(run), Path(runs_dir) / run):
        if (cand / "config.json").exists():
            return cand
    raise ValueError(f"no run directory {run!r} (looked for config.json in {run} and {Path(runs_dir) / run})")


def check_pool_file(recorded: dict[str, Any], run_dir: Path) -> None:
    """Refuse to import the ``pool_file`` a config.json names unless it is the file the run trained
    with (its sha256, recorded as ``pool_file_sha``): a config.json is data anyone can edit, and the
    file it names is code that runs on import. ``recorded`` is the config.json as written, read
    before RunConfig (which fills a missing sha256 from the file as it is now)."""
    pool_file, recorded_sha = recorded.get("pool_file"), recorded.get("pool_file_sha")
    if not pool_file:
        return
    path = pool_file.rpartition(":")[0] or pool_file
    where = f"{run_dir / 'config.json'} names pool file {path}"
    if not recorded_sha:
        raise ValueError(f"{where} without its sha256 (pool_file_sha): refusing to import it; retrain the run")
    if not Path(path).is_file():
        raise ValueError(f"{where}, which does not exist here (run from the folder the run was trained in)")
    now = file_sha256(path)
    if now != recorded_sha:
        raise ValueError(
            f"{where}, but that file changed since the run trained (sha256 {recorded_sha} "
            f"then, {now} now): refusing to import code the run did not train with; restore the "
            f"file or retrain"
        )


def locate_data(config: RunConfig, run_dir: Path) -> RunConfig:
    """The config with its data paths usable from here: a relative ``data_path``/``data_dir`` (runs
    written before paths were stored absolute) is looked up from the working directory, then from
    the folder that held the runs directory (where the run was most likely started)."""
    changes = {}
    for key in ("data_path", "data_dir"):
        value = getattr(config, key)
        if not value or Path(value).expanduser().is_absolute() or Path(value).exists():
            continue
        started_in = run_dir.resolve().parent.parent
        if (started_in / value).exists():
            changes[key] = str(started_in / value)
        else:
            raise ValueError(
                f"{run_dir}: its {key} {value!r} is relative and found neither here nor in {started_in}; "
                f"run from the folder the run was started in"
            )
    return dataclasses.replace(config, **changes) if changes else config


def load_trained(
    run_dir: Path, device: str | None = None, full_train: bool = False, full_test: bool = False
) -> tuple[RunConfig, engine.RunData, nn.Module]:
    """(config, data, model in eval mode). ``full_train`` / ``full_test`` drop the protocol's fixed
    subsets, so analyses see the whole split whatever the run trained on."""
    recorded = read_json(run_dir / "config.json")
    check_pool_file(recorded, run_dir)
    config = locate_data(RunConfig.from_dict(recorded), run_dir)
    changes = {}
    if full_train:
        changes["train_subset"] = None
    if full_test:
        changes["test_subset"] = None
    data_config = config.replace(protocol=dataclasses.replace(config.protocol, **changes)) if changes else config
    dev = engine.auto_device(device)
    data = engine.prepare_data(data_config, dev)
    model = engine.build_model(config, data).to(dev)
    ckpt = RunDir(run_dir.parent, run_dir.name).load_checkpoint(map_location=dev)
    if ckpt is None:
        raise ValueError(f"{run_dir} has no checkpoint.pt: train it first (poolbench run)")
    model.load_state_dict(ckpt["model"])
    return config, data, model.eval()


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
