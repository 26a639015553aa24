"""resolve(config): the one step that reads the world for a run configuration.

A ``RunConfig`` is a pure value; its id also covers what the run reads: the images (a content
fingerprint of the selected data, ``train/data.py``), a user's pool file and fitted weights files
(their sha256), and which defaults this code gives the FlexPool pool, SAC and the CIFAR ResNets'
initialisation (their versions). ``resolve`` fills exactly the fields of these that are unset, so
the places that look at data or files are the places that call it, and a resolved config's
``run_id`` is a pure function of its fields. ``check_unchanged`` is the training path's refusal to
resume on files or data that changed since the run was resolved.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..fileio import sha256_file
from .config import FLEX_SAC_VERSION, RESNET_INIT_VERSION, RESNET_MODELS, RunConfig
from .data import data_fingerprint, data_identity

#: The largest file whose content joins a run's identity (a pool file, fitted weights).
IDENTITY_FILE_CAP = 1 << 30


def file_sha256(path: str) -> str:
    """The first 16 hex digits of the file's sha256; a regular file only (never a FIFO or a link to
    ``/dev/zero`` that a config.json could name): ``fileio.UnsafeFileError`` otherwise."""
    return sha256_file(path, IDENTITY_FILE_CAP)[:16]


def resolve(config: RunConfig, *, download: bool = True, data: bool = True) -> RunConfig:
    """``config`` with every world-derived field it lacks filled in: the pool file's and the weights
    files' sha256, this code's FlexPool/SAC and ResNet-initialisation versions, the data's
    fingerprint and label (``data=False``: all but these, what a schema-1 identity needs). Fields
    already set are kept as they are (nothing is read for them), so resolving a resolved config
    returns an equal one.

    ``FileNotFoundError`` naming the file when a pool or weights file is missing; the data's errors
    (``poolbench.data.DataError``; with ``download=False`` also when an official archive would have
    to be downloaded first) when the data cannot be read."""
    changes: dict[str, Any] = {}
    if config.pool_file and not config.pool_file_sha:
        changes["pool_file_sha"] = _pool_file_sha(config.pool_file)
    if config.weight_files() and not config.weight_file_sha:
        changes["weight_file_sha"] = _weight_file_sha(config)
    if config.flex_sac_version is None and config.uses_flex_or_sac:
        changes["flex_sac_version"] = FLEX_SAC_VERSION
    if config.init_version is None and config.model in RESNET_MODELS:
        changes["init_version"] = RESNET_INIT_VERSION
    if data and config.data_fingerprint is None:
        fingerprint, label = data_identity(config.data_selection(), download=download)
        changes.update(data_fingerprint=fingerprint, data_label=label)
    return dataclasses.replace(config, **changes) if changes else config


def _pool_file_sha(spec: str) -> str:
    """The sha256 (16 hex) of the file a ``path.py:ClassName`` spec names, which must exist."""
    path = spec.rpartition(":")[0]
    if not Path(path).is_file():
        raise FileNotFoundError(f"pool file {path} not found; fix the path or restore the file")
    return file_sha256(path)


def _weight_file_sha(config: RunConfig) -> dict[str, str]:
    """{"model_args.lda_weights": sha, ...}: every weights file the run reads, which must exist."""
    found = {}
    for key, path in config.weight_files().items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{key}={path}: no such file; run `poolbench fit-lda` to write it, or fix the path")
        found[key] = file_sha256(path)
    return found


def check_unchanged(config: RunConfig) -> None:
    """Refuse to train a resolved run on a pool file, weights file or data that differ from the ones
    it was resolved with (a resumed run would mix two of them under one id)."""
    check_files_unchanged(config)
    check_data_unchanged(config)


def check_files_unchanged(config: RunConfig) -> None:
    """``check_unchanged`` for the pool file and the weights files: FileNotFoundError when one is
    gone, ValueError when one was edited since the run was resolved."""
    if config.pool_file:
        now = _pool_file_sha(config.pool_file)
        if config.pool_file_sha and now != config.pool_file_sha:
            path = config.pool_file.rpartition(":")[0]
            raise ValueError(
                f"pool file {path} changed since this run was configured (sha256 {config.pool_file_sha} "
                f"then, {now} now): the edited pool is another run; run the command again to start it"
            )
    current = _weight_file_sha(config)
    for key, path in config.weight_files().items():
        if key in config.weight_file_sha and current[key] != config.weight_file_sha[key]:
            raise ValueError(
                f"{key}={path} changed since this run was configured (sha256 "
                f"{config.weight_file_sha[key]} then, {current[key]} now): a resumed run would mix two "
                f"weight sets; start a new run (a new config picks up the new file and a new id)"
            )


def check_data_unchanged(config: RunConfig) -> None:
    """``check_unchanged`` for the data: ValueError when its fingerprint now differs from the run's."""
    if config.data_fingerprint is not None:
        now = data_fingerprint(config.data_selection())
        if now != config.data_fingerprint:
            raise ValueError(
                f"the data for {config.dataset} ({config.data_path or config.data_dir or 'default location'}) "
                f"is not what this run was configured with (fingerprint {config.data_fingerprint} then, "
                f"{now} now); start a new run on it (a new config gets a new run id)"
            )
