"""A trained run directory back into its config, data and model: the model rebuilt exactly as the
engine built it, the latest checkpoint loaded into it.

>>> run = load_trained("runs/resnet20-cifar10-gem-s0-0123456789")   # or a run id under runs_dir
>>> run.model, run.config, run.data                                  # model in eval mode

A run trained with a pool file names that file in its config.json, which anyone who can write the
runs directory can edit, and the file is code that runs on import: it is imported only when the
caller asks, ``trust_pool_file=True`` (the recorded file) or ``pool_file="path.py"`` (a file the
caller names), and either way only when its sha256 is the one the run recorded. The analysis
commands (``fit-lda``, ``robustness``, ``show``) load runs through here, their refusals naming the
command line's flags (``cli/_trained.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import torch.nn as nn

from .fileio import UnsafeFileError, sha256_file
from .pools.loader import normalize_pool_file_spec
from .runs import RunDir, default_runs_dir, read_json
from .train import RunConfig
from .train.build import build_model
from .train.engine import auto_device
from .train.inputs import RunData, prepare_data

#: The largest pool file poolbench hashes: a pool is a page of Python.
POOL_FILE_CAP = 16 << 20


class PoolFileFlags(NamedTuple):
    """How a refusal names the two ways to allow a run's pool file: the library's keyword arguments
    (``LIBRARY_FLAGS``) or the command line's flags (``cli/_trained.py``)."""

    trust: str  # confirm the recorded file
    name: str  # name a file in its place
    sep: str  # between ``name`` and the path: "=" or " "

    def naming(self, path: str) -> str:
        return f"{self.name}{self.sep}{path}"


LIBRARY_FLAGS = PoolFileFlags("trust_pool_file=True", "pool_file", "=")


class TrainedRun(NamedTuple):
    """A trained run, loaded: its config, its data (as the protocol selects it) and its model in
    eval mode on the chosen device."""

    config: RunConfig
    data: RunData
    model: nn.Module


def resolve_run(run: str, runs_dir: str) -> Path:
    """A run directory from a path or a run id under ``runs_dir``; ValueError saying what is missing."""
    for cand in (Path(run), Path(runs_dir) / run):
        if (cand / "config.json").exists():
            return cand
    raise ValueError(f"no run directory {run!r} (looked for config.json in {run} and {Path(runs_dir) / run})")


def check_pool_file(
    recorded: dict[str, Any],
    run_dir: Path,
    trust_recorded: bool = False,
    named: str | None = None,
    flags: PoolFileFlags = LIBRARY_FLAGS,
) -> dict[str, Any]:
    """The config.json as it may be built, or ValueError (one line naming the flag to give).

    A config.json is data anyone who can write the runs directory can edit, and a ``pool_file`` it
    names is code that runs on import: it is imported only when the user names a file on the
    command line (``named``, used in place of the recorded path) or confirms the recorded one
    (``trust_recorded``), and either way only when the file's sha256 is the ``pool_file_sha`` the
    run recorded. ``recorded`` is the config.json as written: a missing sha256 is never filled from
    the file as it is now (which ``train.resolve`` would do for a new run)."""
    pool_file, recorded_sha = recorded.get("pool_file"), recorded.get("pool_file_sha")
    if not pool_file:
        return recorded
    if not isinstance(pool_file, str):
        raise ValueError(f"{run_dir / 'config.json'}: pool_file is not a path; it was not written by poolbench")
    path = pool_file.rpartition(":")[0] or pool_file
    where = f"{run_dir / 'config.json'} names pool file {path}"
    if named is None and not trust_recorded:
        raise ValueError(
            f"{where}, which is code: poolbench imports it only when you ask; pass {flags.trust} to "
            f"import that file (its sha256 is checked) or {flags.naming('PATH')} to name the file yourself"
        )
    if not recorded_sha or not isinstance(recorded_sha, str):
        raise ValueError(f"{where} without its sha256 (pool_file_sha): refusing to import it; retrain the run")
    if named is not None:
        try:
            spec = normalize_pool_file_spec(named if ":" in named else f"{named}:{pool_file.rpartition(':')[2]}")
        except ValueError as exc:
            raise ValueError(f"{flags.naming(named)}: {exc}") from None
        path, where = spec.rpartition(":")[0], flags.naming(named)
    elif not Path(path).is_file():
        raise ValueError(
            f"{where}, which does not exist here: run from the folder the run was trained in, or name "
            f"the file with {flags.naming('PATH')}"
        )
    try:
        now = sha256_file(path, POOL_FILE_CAP)[: len(recorded_sha)]
    except (OSError, UnsafeFileError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if now != recorded_sha:
        raise ValueError(
            f"{where}, but that file is not the one the run trained with: it changed since the run trained "
            f"(sha256 {recorded_sha} then, {now} now): refusing to import code the run did not train "
            f"with; restore the file or retrain"
        )
    return dict(recorded, pool_file=spec) if named is not None else recorded


def locate_data(config: RunConfig, run_dir: Path) -> RunConfig:
    """The config with its data paths usable from here: a relative ``data_path``/``data_dir`` (runs
    written before paths were stored absolute) is looked up from the working directory, then from
    the folder that held the runs directory (where the run was most likely started)."""
    changes: dict[str, Any] = {}
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
    run: str | Path,
    runs_dir: str | Path | None = None,
    device: str | None = None,
    full_train: bool = False,
    full_test: bool = False,
    trust_pool_file: bool = False,
    pool_file: str | None = None,
    flags: PoolFileFlags = LIBRARY_FLAGS,
) -> TrainedRun:
    """(config, data, model in eval mode) of the run at ``run``: a run directory, or a run id under
    ``runs_dir`` (default: ``$POOLBENCH_RUNS``, else ``runs``). ``full_train`` / ``full_test`` drop
    the protocol's fixed subsets, so analyses see the whole split whatever the run trained on. A
    pool file the run's config.json names is imported only as ``check_pool_file`` allows
    (``trust_pool_file``, or the file the caller names, ``pool_file``); nothing is read or written
    before that check. The data is loaded because the model is built for its classes and channels."""
    run_dir = resolve_run(str(run), str(default_runs_dir() if runs_dir is None else runs_dir))
    recorded = read_json(run_dir / "config.json")
    if recorded is None:
        raise ValueError(f"{run_dir / 'config.json'} not found: {run_dir} is not a run directory")
    allowed = check_pool_file(recorded, run_dir, trust_pool_file, pool_file, flags)
    config = locate_data(RunConfig.from_dict(allowed), run_dir)
    changes: dict[str, Any] = {}
    if full_train:
        changes["train_subset"] = None
    if full_test:
        changes["test_subset"] = None
    data_config = config.replace(protocol=dataclasses.replace(config.protocol, **changes)) if changes else config
    dev = auto_device(device)
    data = prepare_data(data_config, dev)
    model = build_model(config, data).to(dev)
    ckpt = RunDir(run_dir.parent, run_dir.name).load_checkpoint(map_location=dev)
    if ckpt is None:
        raise ValueError(f"{run_dir} has no checkpoint.pt: train it first (poolbench run)")
    model.load_state_dict(ckpt["model"])
    return TrainedRun(config, data, model.eval())
