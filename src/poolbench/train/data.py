"""What a run trains and tests on: its images after the validation split and the fixed subsets,
and a content fingerprint of exactly that, which joins the run's identity.

Two runs that name the same dataset can still see different images (another image folder, another
copy, a different subset): the fingerprint is a sha256 over the selected tensors (images, labels,
their shapes) and the normalisation statistics, so such runs never share a run id or a table cell.
It is cached on disk beside the dataset cache, keyed by the source files' identity (path, size,
mtime) and the selection, so asking again costs a few ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import Dataset, load_dataset, split_validation
from ..data.datasets import cache_key, default_cache_dir
from ..fileio import atomic_write_bytes, read_bytes
from .selection import DataSelection

SUBSET_SEED = 20240229  # the fixed, seed-independent subset for short CPU protocols
_HOLDOUT_SEED = 20190608  # the fixed shuffle the cross-validation folds are cut from
FINGERPRINT_VERSION = 1  # bump when what the fingerprint covers changes
_MEMORY: dict[str, tuple[str, str]] = {}


@dataclass
class SelectedData:
    """CPU uint8 tensors of one run (before padding and moving to the device)."""

    dataset: Dataset
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor


def fixed_subset(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n >= len(y):
        return x, y
    g = torch.Generator().manual_seed(SUBSET_SEED)
    idx = torch.randperm(len(y), generator=g)[:n].sort().values
    return x[idx], y[idx]


def check_split_sizes(selection: DataSelection, n_train: int, n_test: int) -> None:
    """ValueError (naming the flag) unless the sizes asked of a dataset with ``n_train`` training and
    ``n_test`` test images exist: a subset larger than its split would silently be the whole split
    under a label that says otherwise."""
    name = selection.dataset
    if n_train == 0 or n_test == 0:
        raise ValueError(f"{name}: the {'training' if n_train == 0 else 'test'} split is empty; check the data")
    val = selection.val_split
    if val and not 0 < val < n_train:
        raise ValueError(f"--val-split {val}: {name} has {n_train} training images; hold out 1 .. {n_train - 1}")
    for flag, n, have, what in (
        (
            "--train-subset",
            selection.train_subset,
            n_train - val,
            "training images" + (" after --val-split" if val else ""),
        ),
        ("--test-subset", selection.test_subset, n_test, "test images"),
    ):
        if n is not None and not 0 < n <= have:
            raise ValueError(f"{flag} {n}: {name} has {have} {what}; use 1 .. {have}, or leave the flag out for all")


def select_data(selection: DataSelection, download: bool = True) -> SelectedData:
    """The run's training, validation and test images: val split first, then the fixed subsets."""
    sel = selection
    ds = load_dataset(sel.dataset, data_path=sel.data_path, data_dir=sel.data_dir, download=download)
    check_split_sizes(sel, len(ds.train_y), len(ds.test_y))
    val_x = val_y = None
    train = ds
    if sel.val_split:
        train, val = split_validation(ds, sel.val_split, seed=0)
        val_x, val_y = val.train_x, val.train_y
    train_x, train_y = fixed_subset(train.train_x, train.train_y, sel.train_subset)
    if sel.holdout is not None:  # cross-validation fold, taken from the (possibly reduced) training set
        if sel.val_split:
            raise ValueError("a run has either val_split or holdout (a cross-validation fold), not both")
        (train_x, train_y), (val_x, val_y) = holdout_fold(train_x, train_y, **sel.holdout)
    test_x, test_y = fixed_subset(ds.test_x, ds.test_y, sel.test_subset)
    return SelectedData(ds, train_x, train_y, val_x, val_y, test_x, test_y)


def holdout_fold(
    x: torch.Tensor, y: torch.Tensor, fraction: float, fold: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((train_x, train_y), (held_x, held_y)): fold ``fold`` of a fixed (seed-independent) shuffle cut
    into consecutive blocks of round(fraction * n) images, so folds 0, 1, ... are *distinct* held-out
    subsets (Birodkar et al. 2019, Sec. 6.2: "5 distinct random held-out subsets of the training
    data"; with fraction 0.2 the five folds partition the set)."""
    n = len(y)
    size = int(round(fraction * n))
    if not 0 < size < n or not 0 <= fold < n // size:
        raise ValueError(
            f"holdout fraction {fraction} fold {fold} does not fit {n} training images "
            f"(folds 0..{max(n // max(size, 1) - 1, 0)})"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(_HOLDOUT_SEED))
    held = perm[fold * size : (fold + 1) * size].sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[held] = False
    return (x[keep], y[keep]), (x[held], y[held])


def fingerprint_selected(sel: SelectedData) -> str:
    """sha256 (16 hex) of everything in ``sel`` that changes training: tensors, stats, classes."""
    h = hashlib.sha256(f"poolbench-data-v{FINGERPRINT_VERSION}".encode())
    h.update(json.dumps([list(sel.dataset.mean), list(sel.dataset.std), sel.dataset.num_classes]).encode())
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        t = getattr(sel, name)
        h.update(f"|{name}:{None if t is None else (str(t.dtype), tuple(t.shape))}".encode())
        if t is not None:
            h.update(memoryview(t.contiguous().numpy()).cast("B"))
    return h.hexdigest()[:16]


def _selection_key(sel: DataSelection) -> str | None:
    source = cache_key(sel.dataset, sel.data_path, sel.data_dir)
    if source is None:
        return None
    blob = json.dumps(
        [FINGERPRINT_VERSION, source, sel.train_subset, sel.test_subset, sel.val_split, sel.holdout], sort_keys=True
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def data_identity(selection: DataSelection, cache_dir: str | None = None, download: bool = True) -> tuple[str, str]:
    """(fingerprint, label) of what ``selection`` trains and tests on; the label is what tables call
    the dataset (``cifar10``, ``cifar10-jpeg`` for a copy). Loads the data on a cache miss;
    ``download=False``: a missing official archive is a ``DataError`` instead of a download."""
    key = _selection_key(selection)
    if key is not None and key in _MEMORY:
        return _MEMORY[key]
    path = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "fingerprints" / f"{key}.txt"
    if key is not None:
        try:
            fp, label = read_bytes(path, 1024).decode().split()  # a regular file of a few bytes only
            if len(fp) == 16:
                _MEMORY[key] = (fp, label)
                return fp, label
        except (OSError, ValueError):
            pass
    sel = select_data(selection, download=download)
    found = (fingerprint_selected(sel), sel.dataset.label)
    key = key or _selection_key(selection)  # the source exists now (e.g. downloaded)
    if key is not None:
        _MEMORY[key] = found
        _write_atomic(path.parent / f"{key}.txt", " ".join(found))
    return found


def data_fingerprint(selection: DataSelection, cache_dir: str | None = None, download: bool = True) -> str:
    """The fingerprint alone (see ``data_identity``)."""
    return data_identity(selection, cache_dir, download)[0]


def _write_atomic(path: Path, text: str) -> None:
    # a read-only cache (or a planted link) only costs a recomputation next time
    with contextlib.suppress(OSError, ValueError):
        atomic_write_bytes(path, text.encode())
