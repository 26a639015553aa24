"""MNIST and Fashion-MNIST from the official idx files, gzipped or raw (LeCun et al., "Gradient-based
learning applied to document recognition", 1998; Xiao et al., "Fashion-MNIST", arXiv:1708.07747).

idx format: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian uint32, then the data. Images are idx3 (N x 28 x 28), labels idx1 (N).
Everything is checked (magic, type, sizes, label range) so a truncated file is named, not mis-read.
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import torch

from .datasets import Sources, register_dataset
from .errors import CorruptDataError, DatasetNotFoundError

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
# Where to look under --data-dir (the first folder holding the files wins; torchvision's layout too).
SUBDIRS = {
    "mnist": ["mnist", "MNIST/raw", "."],
    "fashion_mnist": ["fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "."],
}
URLS = {
    "mnist": "https://yann.lecun.com/exdb/mnist/ (or a mirror)",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist (data/fashion)",
}


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_files(name: str, data_path: str | None, data_dir: str | None) -> list[Path]:
    """The four idx files: from ``data_path`` (their folder) or a known folder under ``data_dir``."""
    folders = (
        [Path(data_path).expanduser()]
        if data_path
        else [Path(data_dir or "data").expanduser() / sub for sub in SUBDIRS[name]]
    )
    for folder in folders:
        found = [_find(folder, stem) for stem in FILES.values()]
        if all(found):
            return found  # type: ignore[return-value]
    looked = ", ".join(str(f) for f in folders)
    raise DatasetNotFoundError(
        f"{name}: the idx files ({', '.join(FILES.values())}, .gz or raw) were not found in {looked}. "
        f"Get them from {URLS[name]} and pass --data-dir (or --data-path, the folder holding them)."
    )


# The largest idx payload read (the official MNIST training images are 47 MB): the header is read
# first, so a tiny .gz that claims, or inflates to, gigabytes is refused before it is decompressed.
MAX_BYTES = 1 << 30
IMAGE_SIZE = (28, 28)


def read_idx(path: Path, ndim: int, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """One idx file as a uint8 array, with every size checked before the data is read."""
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
            header = 4 + 4 * ndim
            head = f.read(header)
            if len(head) < header:
                raise CorruptDataError(f"{path}: {len(head)} bytes, too short for an idx header; replace it")
            zero, dtype, dims = struct.unpack(">HBB", head[:4])
            if zero != 0 or dtype != 0x08 or dims != ndim:
                raise CorruptDataError(
                    f"{path}: magic number {head[:4].hex()} is not an unsigned-byte idx{ndim} file "
                    f"(expected 000008{ndim:02x}); is it the right file?"
                )
            shape = struct.unpack(f">{ndim}I", head[4:header])
            expected = math.prod(shape)  # Python ints: a product that overflows int64 stays huge
            if expected > max_bytes:
                raise CorruptDataError(
                    f"{path}: header says {shape} = {expected} bytes of data, more than the "
                    f"{max_bytes} an idx file of this benchmark may hold; replace it with the "
                    "official file"
                )
            data = f.read(expected + 1)  # one byte more: a file longer than its header is wrong too
    except (OSError, EOFError) as e:  # gzip raises EOFError on a truncated stream
        raise CorruptDataError(
            f"{path} cannot be decompressed ({e}): truncated or corrupt; replace it with the official file"
        ) from e
    if len(data) != expected:
        have = f"{len(data)}" if len(data) <= expected else f"more than {expected}"
        raise CorruptDataError(
            f"{path}: header says {shape} = {expected} bytes of data, the file has {have}: "
            "truncated or corrupt; replace it with the official file"
        )
    return np.frombuffer(data, np.uint8).reshape(shape)


def load(
    name: str, data_path: str | None = None, data_dir: str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    paths = find_files(name, data_path, data_dir)
    arrays = [read_idx(p, 3 if key.endswith("_x") else 1) for p, key in zip(paths, FILES, strict=True)]
    train_x, train_y, test_x, test_y = arrays
    for x, y, px, py in ((train_x, train_y, paths[0], paths[1]), (test_x, test_y, paths[2], paths[3])):
        if tuple(x.shape[1:]) != IMAGE_SIZE:
            raise CorruptDataError(
                f"{px}: images are {x.shape[2]}x{x.shape[1]}, {name} images are 28x28; is it the right file?"
            )
        if len(x) == 0:
            raise CorruptDataError(f"{px} holds no images; replace it with the official file")
        if len(x) != len(y):
            raise CorruptDataError(f"{px} has {len(x)} images but {py} has {len(y)} labels")
        if len(y) and y.max() >= len(CLASSES[name]):
            raise CorruptDataError(f"{py}: label {y.max()} out of range for {len(CLASSES[name])} classes")

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.copy()).unsqueeze(1)  # N x 1 x 28 x 28 (copy: frombuffer is read-only)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return images(train_x), labels(train_y), images(test_x), labels(test_y), list(CLASSES[name])


def _sources(name: str) -> Sources:
    def sources(data_path: str | None, data_dir: str | None) -> list[Path]:
        try:
            return find_files(name, data_path, data_dir)
        except FileNotFoundError:
            return []  # no key: the reader raises the clear error

    return sources


@register_dataset("fashion_mnist", sources=_sources("fashion_mnist"))
def _read_fashion_mnist(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load("fashion_mnist", data_path, data_dir)


@register_dataset("mnist", sources=_sources("mnist"))
def _read_mnist(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load("mnist", data_path, data_dir)
