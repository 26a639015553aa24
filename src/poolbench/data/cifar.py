"""CIFAR-10 and CIFAR-100 from the official python-version archives (Krizhevsky, "Learning Multiple
Layers of Features from Tiny Images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html).

``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``;
``cifar-100-python.tar.gz`` holds ``cifar-100-python/{train, test, meta}``. Each is a pickled dict
with ``b"data"`` (N x 3072 uint8, channel-major 3x32x32) and ``b"labels"`` (CIFAR-10) or
``b"fine_labels"`` (CIFAR-100: we use the 100 fine classes).

An archive is checked against its official MD5 before it is read, and downloaded from the official
address when it is missing: into a temporary file beside the target, renamed into place only once
its MD5 is right, so an interrupted or corrupt download never leaves a file that looks complete.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..fileio import atomic_write
from . import cifar_copy
from .datasets import existing, register_dataset
from .errors import ChecksumError, CorruptDataError, DatasetNotFoundError

BASE_URL = "https://www.cs.toronto.edu/~kriz/"


class OfficialFile(Protocol):
    """What ``download`` and ``verify`` need of a dataset's official file (CIFAR's, SVHN's)."""

    @property
    def filename(self) -> str: ...
    @property
    def md5(self) -> str: ...
    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class CifarSpec:
    filename: str
    md5: str
    folder: str  # top folder inside the archive
    train: tuple[str, ...]
    test: str
    meta: str
    label_key: bytes
    names_key: bytes

    @property
    def url(self) -> str:
        return BASE_URL + self.filename


SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec(
        "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": CifarSpec(
        "cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ("train",),
        "test",
        "meta",
        b"fine_labels",
        b"fine_label_names",
    ),
}


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def archive_path(name: str, data_path: str | None, data_dir: str | None) -> Path:
    """``data_path`` (the archive, or a folder holding it), else ``data_dir/<official name>``."""
    spec = SPECS[name]
    if data_path:
        p = Path(data_path).expanduser()
        return p / spec.filename if p.is_dir() else p
    return Path(data_dir or "data").expanduser() / spec.filename


def read_only(path: Path) -> bool:
    """A file or folder nobody may write (no write bit at all, a read-only mount, or no access).

    The permission bits are read as an intent even where root could override them: a shared data
    folder made read-only for everyone is never written to."""
    st = path.stat()
    return (st.st_mode & 0o222) == 0 or bool(os.statvfs(path).f_flag & os.ST_RDONLY) or not os.access(path, os.W_OK)


def writable_folder(folder: Path) -> bool:
    """Whether poolbench may create files in ``folder`` (or in the first existing folder above it)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return not read_only(folder)


def verify(path: Path, spec: OfficialFile) -> None:
    actual = md5sum(path)
    if actual == spec.md5:
        return
    if read_only(path) or not writable_folder(path.parent):
        # a read-only (shared) file is someone else's: never tell the user to delete it
        raise ChecksumError(
            f"{path}: MD5 is {actual}, expected {spec.md5}: it is not the official {spec.filename}, and it is "
            f"read-only (a shared file; leave it as it is). Point --data-path at the official archive, or "
            f"--data-dir at a folder of your own (poolbench downloads it there)."
        )
    raise ChecksumError(
        f"{path}: MD5 is {actual}, expected {spec.md5} (the official {spec.filename}). The file is "
        f"corrupt, truncated or not the official archive. Delete it and run again to re-download it "
        f"from {spec.url}, or put the official file there."
    )


def download(spec: OfficialFile, dest: Path, timeout: float = 60.0) -> None:
    """Fetch ``spec.url`` to ``dest``: temp file in the same folder, MD5 check, atomic rename.
    A read-only folder (a shared data folder) is never written to: that is a clear error instead."""
    if not writable_folder(dest.parent):
        raise DatasetNotFoundError(
            f"{dest} is missing and {dest.parent} is read-only (a shared data folder): poolbench never downloads "
            f"into it. Pass --data-dir with a folder of your own (e.g. --data-dir data) to download "
            f"{spec.filename} there, or --data-path pointing at the archive."
        )
    print(f"poolbench: downloading {spec.url} -> {dest}", file=sys.stderr)

    def fetch(out) -> None:  # into the temporary file: a bad checksum removes it, dest is never touched
        h = hashlib.md5()
        with urllib.request.urlopen(spec.url, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != spec.md5:
            raise ChecksumError(
                f"downloaded {spec.url}: MD5 is {h.hexdigest()}, expected {spec.md5}; nothing was written to "
                f"{dest}. Try again, or download {spec.filename} by hand and put it at {dest}."
            )

    try:
        atomic_write(dest, fetch)
    except (urllib.error.URLError, OSError) as e:
        raise DatasetNotFoundError(
            f"{dest} is missing and could not be downloaded from {spec.url} ({e}). Download "
            f"{spec.filename} (MD5 {spec.md5}) on a machine with a network and put it at {dest}, "
            f"or pass --data-dir/--data-path pointing at it."
        ) from e


def ensure_archive(name: str, path: Path, allow_download: bool = True) -> Path:
    """The verified archive at ``path``, downloading it first if it is missing."""
    spec = SPECS[name]
    if not path.exists():
        if not allow_download:
            raise DatasetNotFoundError(
                f"{path} not found. Download {spec.url} (MD5 {spec.md5}) and put it there, or pass "
                f"--data-dir (folder holding {spec.filename}) or --data-path (the archive)."
            )
        download(spec, path)
    verify(path, spec)
    return path


def _reconstruct_empty(cls, shape, dtype):
    """numpy's array unpickling hook, limited to what ``ndarray.__reduce__`` emits: an empty array
    that the pickle then fills (BUILD). Any other shape would be *uninitialised* memory as data."""
    if cls is not np.ndarray or tuple(shape) != (0,):
        raise pickle.UnpicklingError(
            f"array reconstruction with {getattr(cls, '__name__', cls)} of shape {shape}: "
            "not how numpy pickles an array"
        )
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


# Exactly the globals genuine CIFAR batches (numpy 1.x pickles; numpy 2 writes numpy._core) and
# Python 3 protocol-2 bytes need. Nothing else is imported: an arbitrary numpy.* module can run code
# on import (numpy.f2py.__main__ raises SystemExit).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_empty,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_empty,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR batches need only numpy arrays, lists and bytes: refuse any other global (pickle can run code)."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch") from None


def _load_pickle(blob: bytes) -> dict:
    return _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()


def read_archive(name: str, path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Decode an official archive (already verified, or a test's own) into uint8 NCHW tensors."""
    spec = SPECS[name]
    wanted = {f"{spec.folder}/{m}" for m in (*spec.train, spec.test, spec.meta)}
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                f = tar.extractfile(member) if member.name in wanted and member.isfile() else None
                if f is not None:
                    blobs[member.name.split("/")[-1]] = f.read()
        missing = sorted(m.split("/")[-1] for m in wanted if m.split("/")[-1] not in blobs)
        if missing:
            raise CorruptDataError(
                f"{path} is not the official {spec.filename}: {', '.join(missing)} missing under "
                f"{spec.folder}/. For an image folder (e.g. a JPEG copy) use --dataset imagefolder --data-path {path}."
            )

        def split(members: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
            xs, ys = [], []
            for m in members:
                d = _load_pickle(blobs[m])
                data = np.asarray(d[b"data"], dtype=np.uint8)
                labels = np.asarray(d[spec.label_key], dtype=np.int64)
                if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
                    raise CorruptDataError(
                        f"{path}: {m} has data {data.shape} and {len(labels)} labels, expected N x 3072 and N labels"
                    )
                xs.append(data.reshape(-1, 3, 32, 32))
                ys.append(labels)
            return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

        train_x, train_y = split(spec.train)
        test_x, test_y = split((spec.test,))
        classes = [c.decode() for c in _load_pickle(blobs[spec.meta])[spec.names_key]]
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError, KeyError, ValueError) as e:
        raise CorruptDataError(
            f"{path} cannot be read ({type(e).__name__}: {e}): it is truncated or corrupt. Delete it and run "
            f"again to re-download {spec.url}, or replace it with the official {spec.filename} (MD5 {spec.md5})."
        ) from e
    if max(int(train_y.max()), int(test_y.max())) >= len(classes):
        raise CorruptDataError(f"{path}: labels go beyond the {len(classes)} class names in {spec.meta}")
    return train_x, train_y, test_x, test_y, classes


def load(
    name: str,
    data_path: str | None = None,
    data_dir: str | None = None,
    allow_download: bool = True,
    check_md5: bool = True,
):
    """Find (or download), verify and decode CIFAR-10/100. ``check_md5=False`` is for test archives."""
    path = archive_path(name, data_path, data_dir)
    if check_md5:
        ensure_archive(name, path, allow_download)
    elif not path.exists():
        raise DatasetNotFoundError(f"{path} not found")
    return read_archive(name, path)


def _cifar10_copy(data_path: str | None, data_dir: str | None) -> Path | None:
    return cifar_copy.find_copy(data_path, data_dir, archive_path("cifar10", data_path, data_dir))


@register_dataset("cifar10", sources=lambda p, d: existing(_cifar10_copy(p, d) or archive_path("cifar10", p, d)))
def _read_cifar10(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    """The official archive, or an image-folder copy of CIFAR-10 (a 6th element names the variant)."""
    copy = _cifar10_copy(data_path, data_dir)
    if copy is not None:
        return (*cifar_copy.read_copy(copy), cifar_copy.VARIANT)
    return load("cifar10", data_path, data_dir, allow_download=download)


@register_dataset("cifar100", sources=lambda p, d: existing(archive_path("cifar100", p, d)))
def _read_cifar100(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load("cifar100", data_path, data_dir, allow_download=download)
