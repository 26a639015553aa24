"""CIFAR-10 as an image-folder copy (e.g. the JPEG archive on these machines) read as ``cifar10``.

A copy is recognised by its layout (``train/<class>/*``, ``test/<class>/*``, a folder or a tar),
then accepted only if it *is* CIFAR-10: the ten official class names (their sorted order is the
official label order), 5,000 training and 1,000 test images per class, 3x32x32. Such a dataset is
labelled ``cifar10-jpeg`` in its run's config and in every table: its column lines up with a
CIFAR-10 column and says that the pixels were re-encoded (expect accuracies a little below the
published ones). Anything else in that layout is refused with ``--dataset imagefolder`` as the fix.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import torch

from . import imagefolder
from .errors import CorruptDataError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_CLASS = (5000, 1000)  # train, test
VARIANT = "jpeg"  # the label's suffix: cifar10-jpeg
#: names a copy may have inside --data-dir (checked when the official archive is not there)
KNOWN_NAMES = ("cifar10-jpg.tar.gz", "cifar10-jpeg.tar.gz", "cifar10-jpg", "cifar10-jpeg")


def is_image_folder(path: Path) -> bool:
    """True for a folder with train/ and test/, or a tar whose first members are under train/ or test/."""
    if path.is_dir():
        return (path / "train").is_dir() and (path / "test").is_dir()
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, "r:*") as tar:
            for i, member in enumerate(tar):
                top = member.name.lstrip("./").split("/")[0]
                if top in ("train", "test"):
                    return True
                if i >= 8:
                    return False
    except (tarfile.TarError, OSError, EOFError):
        return False
    return False


def find_copy(data_path: str | None, data_dir: str | None, official: Path) -> Path | None:
    """The image-folder copy the arguments point at, or None (then the official archive is read)."""
    if data_path:
        p = Path(data_path).expanduser()
        return p if is_image_folder(p) else None
    if official.exists():
        return None
    folder = Path(data_dir or "data").expanduser()
    for name in KNOWN_NAMES:
        if is_image_folder(folder / name):
            return folder / name
    return None


def read_copy(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Decode the copy and check that it is CIFAR-10 (names, counts, size)."""
    train_x, train_y, test_x, test_y, classes = imagefolder.load(str(path))
    problems = []
    if classes != CLASSES:
        problems.append(f"its classes are {classes}, not CIFAR-10's {CLASSES}")
    else:
        for split, y, want in (("train", train_y, PER_CLASS[0]), ("test", test_y, PER_CLASS[1])):
            counts = torch.bincount(y, minlength=len(CLASSES)).tolist()
            if any(c != want for c in counts):
                problems.append(f"{split} has {counts} images per class, CIFAR-10 has {want} each")
    if tuple(train_x.shape[1:]) != (3, 32, 32):
        problems.append(f"its images are {list(train_x.shape[1:])}, CIFAR-10's are [3, 32, 32]")
    if problems:
        raise CorruptDataError(
            f"{path} is an image folder but not a copy of CIFAR-10 ({'; '.join(problems)}); "
            f"read it with --dataset imagefolder --data-path {path}"
        )
    return train_x, train_y, test_x, test_y, classes
