"""``load_dataset``: every source as one ``Dataset`` of uint8 tensors, decoded once and cached.

Decoding is the slow part (60,000 JPEGs take ~15 s), so the decoded tensors are saved as one ``.pt``
in the cache folder (``$POOLBENCH_CACHE``, default ``~/.cache/poolbench``) under a key made of the
dataset name, the reader version and the source's identity (resolved path, size and mtime of each
file): touching or replacing the source re-decodes, anything else loads in well under a second.
Cache writes are atomic (temp file + rename), so concurrent runs and crashes never leave a half file.
Within one process the most recent datasets are also kept in memory: treat the tensors as read-only.

Per-channel ``mean``/``std`` (0..1 scale) are computed from the training images when first decoded
and stored in the cache; for the official files they match the usual constants (CIFAR-10
0.4914/0.4822/0.4465, Fashion-MNIST 0.2860).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..fileio import LARGE_FILE_CAP, UnsafeFileError, atomic_torch_save, open_regular
from .errors import CorruptDataError, DataInterrupted

CACHE_VERSION = 1  # bump when a reader's output changes: old cache files are then ignored
_MEMORY: OrderedDict[str, Dataset] = OrderedDict()
_MEMORY_SIZE = 2


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor  # [N, C, H, W] uint8
    train_y: torch.Tensor  # [N] int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]  # per channel, 0..1 scale, of the training images
    std: tuple[float, ...]
    source: str = ""  # where it was read from (for provenance)
    variant: str = ""  # "jpeg" for an image-folder copy of CIFAR-10 read as cifar10 (data/cifar_copy.py)

    @property
    def label(self) -> str:
        """What tables call it: the name, or ``cifar10-jpeg`` for a re-encoded copy."""
        return f"{self.name}-{self.variant}" if self.variant else self.name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.train_x.shape)}, test={tuple(self.test_x.shape)}, "
            f"classes={self.num_classes}, source={self.source!r})"
        )


# name -> (read(data_path, data_dir, download) -> (train_x, train_y, test_x, test_y, classes[, variant]),
#          files(data_path, data_dir) -> the source files whose size+mtime make the cache key)
Reader = Callable[[str | None, str | None, bool], tuple]
Sources = Callable[[str | None, str | None], list[Path]]
READERS: dict[str, tuple[Reader, Sources]] = {}
# Generated datasets have no source files: their cache key holds what determines their bytes instead.
GENERATED: dict[str, Callable[[], list]] = {}


def register_dataset(
    name: str, sources: Sources, generated: Callable[[], list] | None = None
) -> Callable[[Reader], Reader]:
    """Decorator: ``read`` becomes the reader of ``load_dataset(name)``; ``sources`` names the files its
    cache key is made of, or ``generated`` (no files) what determines the bytes. A reader module in
    this package registers itself on import (``poolbench.data`` imports every module)."""

    def register(read: Reader) -> Reader:
        if name in READERS:
            raise ValueError(f"dataset {name!r} is registered twice")
        READERS[name] = (read, sources)
        if generated is not None:
            GENERATED[name] = generated
        return read

    return register


def existing(path: str | Path | None) -> list[Path]:
    """``[path]`` if it exists, else ``[]`` (no cache key: the reader raises the clear error)."""
    return [Path(path).expanduser()] if path and Path(path).expanduser().exists() else []


def find_data_dir(name: str, candidates: list[str]) -> str | None:
    """The first folder of ``candidates`` that holds dataset ``name``'s source files (as
    ``--data-dir`` would find them), or None: in none of them, or a generated dataset."""
    if name not in READERS or name in GENERATED:
        return None
    for folder in candidates:
        if Path(folder).expanduser().is_dir() and READERS[name][1](None, folder):
            return folder
    return None


def list_datasets() -> list[str]:
    return sorted(READERS)


def default_cache_dir() -> Path:
    env = os.environ.get("POOLBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "poolbench"


def _identity(paths: list[Path]) -> list[list]:
    """(path, size, mtime) of each source file; a folder contributes every file inside it."""
    out = []
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return out


def check_source_kinds(data_path: str | None, data_dir: str | None) -> None:
    """A data path or folder that exists must be a regular file or a folder: a reader opening a
    FIFO waits for a writer forever, and a device (``/dev/zero``) never ends."""
    for flag, value in (("--data-path", data_path), ("--data-dir", data_dir)):
        path = Path(value).expanduser() if value else None
        if path is not None and path.exists() and not (path.is_file() or path.is_dir()):
            raise CorruptDataError(
                f"{flag} {value}: not a regular file or a folder (a pipe, socket or device); "
                f"give the dataset's archive, file or folder"
            )


def cache_key(name: str, data_path: str | None = None, data_dir: str | None = None) -> str | None:
    """The cache file's key, or None when the source is missing (nothing to cache against yet).
    ``CorruptDataError`` when a source that exists is not a regular file or a folder."""
    check_source_kinds(data_path, data_dir)
    sources = READERS[name][1](data_path, data_dir)
    if name not in GENERATED and not sources:
        return None
    generator = GENERATED[name]() if name in GENERATED else []
    blob = json.dumps([CACHE_VERSION, name, _identity(sources), generator]).encode()
    return f"{name}-{hashlib.sha1(blob).hexdigest()[:16]}"


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images on a 0..1 scale, exact in float64."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for i in range(0, len(x), chunk):  # chunks: never a float copy of the whole set
        part = x[i : i + chunk].to(torch.float64)
        total += part.sum((0, 2, 3))
        squares += (part * part).sum((0, 2, 3))
    count = x.numel() / x.shape[1]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    return tuple(round(v / 255, 6) for v in mean.tolist()), tuple(round(v / 255, 6) for v in std.tolist())


def _read_cache(path: Path) -> dict | None:
    try:
        with open_regular(path, LARGE_FILE_CAP) as (f, _):  # never a link, a FIFO or a device
            return torch.load(f, weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged cache is only a cache: rebuild it
        warnings.warn(f"ignoring unreadable dataset cache {path} ({e}); decoding again", stacklevel=2)
        return None


def _write_cache(path: Path, payload: dict) -> None:
    try:
        atomic_torch_save(path, payload)
    except (OSError, UnsafeFileError) as e:  # read-only home, full disk, a planted link: carry on without a cache
        warnings.warn(f"could not write dataset cache {path} ({e}); the next load decodes again", stacklevel=2)


def load_dataset(
    name: str,
    data_path: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    cache: bool = True,
    download: bool = True,
) -> Dataset:
    """Load ``name`` (see ``list_datasets()``) as uint8 tensors, from the cache when it is current.

    ``data_dir`` (default ``./data``) is where the official files live (CIFAR archives are downloaded
    there when missing and ``download`` is true); ``data_path`` points at one file or folder instead
    (required for ``imagefolder``).
    """
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}")
    try:
        return _load(name, data_path, data_dir, cache_dir, cache, download)
    except DataInterrupted:
        raise
    except KeyboardInterrupt:  # reading or decoding, before any epoch: say that, not an epoch
        raise DataInterrupted(
            f"interrupted while loading data ({name}), before any epoch started; nothing was trained "
            f"or cached: run the same command again"
        ) from None


def _load(
    name: str, data_path: str | None, data_dir: str | None, cache_dir: str | None, cache: bool, download: bool
) -> Dataset:
    key = cache_key(name, data_path, data_dir)
    if cache and key is not None and key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    payload = _read_cache(folder / f"{key}.pt") if (cache and key) else None
    if payload is None:
        payload = _decode(name, data_path, data_dir, download)
        key = key or cache_key(name, data_path, data_dir)  # the source exists now (e.g. downloaded)
        if cache and key:
            _write_cache(folder / f"{key}.pt", payload)
    ds = Dataset(
        name=name,
        train_x=payload["train_x"],
        train_y=payload["train_y"],
        test_x=payload["test_x"],
        test_y=payload["test_y"],
        classes=list(payload["classes"]),
        mean=tuple(payload["mean"]),
        std=tuple(payload["std"]),
        source=payload["source"],
        variant=payload.get("variant", ""),
    )
    if cache and key:
        _MEMORY[key] = ds
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)
    return ds


def _decode(name: str, data_path: str | None, data_dir: str | None, download: bool) -> dict:
    """Run the reader (checksums, download, decoding) and compute the statistics: the cache payload."""
    if name not in GENERATED:
        print(f"poolbench: decoding {name} (first load; cached afterwards)", file=sys.stderr)
    train_x, train_y, test_x, test_y, classes, *variant = READERS[name][0](data_path, data_dir, download)
    for split, y in (("training", train_y), ("test", test_y)):
        if len(y) == 0:  # every later step would divide by it
            raise CorruptDataError(
                f"{name} ({data_path or data_dir or 'data'}): the {split} split is empty; check the files"
            )
    mean, std = channel_stats(train_x)
    source = "generated" if name in GENERATED else str(Path(data_path or data_dir or "data").expanduser().resolve())
    return dict(
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=classes,
        mean=list(mean),
        std=list(std),
        source=source,
        variant=variant[0] if variant else "",
    )


def split_validation(dataset: Dataset, n: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Hold out ``n`` training images, stratified by class and fixed by ``seed``.

    Returns (train, val): ``train`` keeps the remaining training images (in their original order) and
    the test set; in ``val`` both splits are the held-out images. Mean/std stay the full training
    set's, so normalisation is the same with and without a validation split.
    """
    total = len(dataset.train_y)
    if not 0 < n < total:
        raise ValueError(f"--val-split must be between 1 and {total - 1}, got {n}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(total, generator=g)
    labels = dataset.train_y[perm]
    counts = torch.bincount(labels, minlength=dataset.num_classes).double()
    # Largest-remainder allocation: per-class quotas proportional to class size, summing to n.
    quota = counts * n / total
    take = quota.floor().long()
    extra = n - int(take.sum())
    take[torch.argsort(quota - take, descending=True, stable=True)[:extra]] += 1
    rank = torch.zeros(total, dtype=torch.long)  # position of each permuted image within its class
    for c in range(dataset.num_classes):
        members = (labels == c).nonzero().squeeze(1)
        rank[members] = torch.arange(len(members))
    held = perm[rank < take[labels]].sort().values
    keep = torch.ones(total, dtype=torch.bool)
    keep[held] = False
    train = replace(dataset, train_x=dataset.train_x[keep], train_y=dataset.train_y[keep])
    vx, vy = dataset.train_x[held], dataset.train_y[held]
    val = replace(dataset, name=f"{dataset.name}:val", train_x=vx, train_y=vy, test_x=vx, test_y=vy)
    return train, val
