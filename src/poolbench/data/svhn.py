"""SVHN, cropped digits (Netzer, Wang, Coates, Bissacco, Wu & Ng, "Reading Digits in Natural Images
with Unsupervised Feature Learning", NIPS workshop 2011; http://ufldl.stanford.edu/housenumbers/).

The official ``train_32x32.mat`` (73,257 images) and ``test_32x32.mat`` (26,032) are MATLAB v5
files holding ``X`` (32 x 32 x 3 x N uint8, height, width, channel, image) and ``y`` (N x 1, labels
1..10 where 10 is the digit 0); we return NCHW uint8 and labels 0..9 (10 -> 0), classes "0".."9".
The optional ``extra_32x32.mat`` is not used (the paper trains on the training set only).

Each file is checked against its official MD5 before it is read (the values torchvision's SVHN
class and other public readers use: train e26dedcc434d2e4c54c9b2d4a06d8373, test
eb5a983be6a315427106f1b164d9cef3) and downloaded from the official address when missing, through
the CIFAR reader's download (temp file, MD5 check, atomic rename). ``scipy.io.loadmat`` reads
numeric arrays only, so reading a file cannot run code.

"Reduced SVHN" (Birodkar et al. 2019, Sec. 6.2) is a fixed 5% of the training set: the protocol's
``train_subset`` (``poolbench reproduce birodkar2019`` sets it); the paper's SVHN images are
normalised one by one without augmentation (the ``birodkar2019-*-svhn`` presets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch

from .cifar import download, verify
from .datasets import register_dataset
from .errors import CorruptDataError, DatasetNotFoundError

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
CLASSES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class SvhnFile:
    """One official file: what ``cifar.download`` / ``cifar.verify`` need (filename, md5, url)."""

    filename: str
    md5: str

    @property
    def url(self) -> str:
        return BASE_URL + self.filename


FILES = {
    "train": SvhnFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": SvhnFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
}


def folder(data_path: str | None, data_dir: str | None) -> Path:
    """``data_path`` (the folder holding both files), else ``data_dir``/svhn if it exists, else ``data_dir``."""
    if data_path:
        if Path(data_path).expanduser().is_file():  # a download would try to make a folder of it
            raise CorruptDataError(
                f"svhn --data-path {data_path} is a file; give the folder holding "
                f"{' and '.join(f.filename for f in FILES.values())}"
            )
        return Path(data_path).expanduser()
    base = Path(data_dir or "data").expanduser()
    return base / "svhn" if (base / "svhn").is_dir() else base


def source_files(data_path: str | None, data_dir: str | None) -> list[Path]:
    root = folder(data_path, data_dir)
    return [root / f.filename for f in FILES.values() if (root / f.filename).exists()]


def read_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 3, 32, 32] uint8, labels [N] int64 in 0..9) from one official-layout .mat file."""
    try:
        blob = scipy.io.loadmat(str(path), variable_names=["X", "y"])
        x, y = np.asarray(blob["X"]), np.asarray(blob["y"]).reshape(-1)
    except (OSError, ValueError, KeyError, NotImplementedError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise CorruptDataError(
            f"{path} cannot be read as an SVHN .mat file ({type(e).__name__}: {e}): it is "
            f"truncated or not the official file; replace it with {BASE_URL}{path.name}"
        ) from e
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise CorruptDataError(
            f"{path}: X is {x.dtype} {x.shape} with {len(y)} labels; expected uint8 32x32x3xN "
            f"and N labels (the official layout)"
        )
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise CorruptDataError(f"{path}: labels must be 1..10 (10 is the digit 0), found {y.min()}..{y.max()}")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    return images, torch.from_numpy((y % 10).astype(np.int64))


def load(
    data_path: str | None = None, data_dir: str | None = None, allow_download: bool = True, check_md5: bool = True
):
    """Find (or download), verify and decode SVHN: (train_x, train_y, test_x, test_y, classes).
    ``check_md5=False`` is for test files."""
    root = folder(data_path, data_dir)
    out: list[torch.Tensor] = []
    for spec in FILES.values():
        path = root / spec.filename
        if not path.exists():
            if not (allow_download and check_md5):
                raise DatasetNotFoundError(
                    f"{path} not found. Download {spec.url} (MD5 {spec.md5}) and put it there, or pass --data-dir "
                    f"(a folder holding {', '.join(f.filename for f in FILES.values())}, or its svhn/ sub-folder) "
                    f"or --data-path (that folder)."
                )
            download(spec, path)
        if check_md5:
            verify(path, spec)
        out.extend(read_mat(path))
    return (*out, list(CLASSES))


@register_dataset("svhn", sources=source_files)
def _read(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load(data_path, data_dir, allow_download=download)
