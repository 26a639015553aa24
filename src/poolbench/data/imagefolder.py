"""Image folders: ``train/<class>/*`` and ``test/<class>/*`` (PNG or JPEG), as a folder or a
.tar / .tar.gz archive -- the layout of torchvision's ``ImageFolder``, one folder per split.

Classes are the sorted names of the ``train`` sub-folders (label i = i-th name), so CIFAR-10's class
folders give the official label order. Anything above ``<split>/<class>/<file>`` is ignored, so an
archive with one wrapping folder works too. Images are decoded with Pillow into one uint8 tensor:
RGB, or one channel if every image is grayscale; all images must have the same size.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .datasets import existing, register_dataset
from .errors import CorruptDataError, DatasetNotFoundError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
_GRAY_MODES = ("1", "L", "LA")
_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit grayscale PNGs open as one of these
# Caps on what one image may cost, checked before it is read or decoded: a small archive can hold a
# member that inflates to gigabytes, and a small PNG can declare a 100-megapixel canvas.
MAX_FILE_BYTES = 32 << 20
MAX_PIXELS = 4096 * 4096


def _too_big(where: str, size: int) -> CorruptDataError:
    return CorruptDataError(
        f"{where} is {size} bytes, more than the {MAX_FILE_BYTES} an image may be here; remove it (or resize it first)"
    )


def _entries_from_folder(root: Path, dirs: set[str]) -> Iterator[tuple[str, bytes]]:
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_dir():
            dirs.add(rel)
        elif p.is_file() and rel.lower().endswith(EXTENSIONS):
            size = p.stat().st_size
            if size > MAX_FILE_BYTES:
                raise _too_big(str(p), size)
            yield rel, p.read_bytes()


def _entries_from_tar(path: Path, dirs: set[str]) -> Iterator[tuple[str, bytes]]:
    # Stream mode ("r|*"): one pass through the gzip stream, no seeking back for each member.
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            name = member.name.rstrip("/")
            if member.isdir():
                dirs.add(name)
            elif member.isfile() and name.lower().endswith(EXTENSIONS):
                if member.size > MAX_FILE_BYTES:  # the header's size, before a byte is inflated
                    raise _too_big(f"{path}:{name}", member.size)
                dirs.add(name.rpartition("/")[0])
                f = tar.extractfile(member)
                if f is not None:  # None only for members that are not regular files
                    yield name, f.read(MAX_FILE_BYTES + 1)


def _split_class(name: str) -> tuple[str, str] | None:
    """('train', 'cat') for '.../train/cat/0001.jpg'; None for files outside the layout."""
    parts = name.split("/")
    if len(parts) < 3 or not name.lower().endswith(EXTENSIONS) or parts[-1].startswith("."):
        return None
    return (parts[-3], parts[-2]) if parts[-3] in SPLITS else None


def _decode(blob: bytes, where: str) -> np.ndarray:
    """uint8 HxW (grayscale) or HxWx3. 16-bit grayscale keeps its top 8 bits (Pillow's convert("L")
    would clip every value above 255 to white)."""
    try:
        with Image.open(io.BytesIO(blob)) as im:  # reads the header only
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise CorruptDataError(
                    f"{where} is {w}x{h} pixels, more than the {MAX_PIXELS} an image may have "
                    "here; remove it (or resize it first)"
                )
            if im.mode in _16BIT_MODES:
                return (np.asarray(im).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8)
            mode = "L" if im.mode in _GRAY_MODES else "RGB"
            return np.asarray(im if im.mode == mode else im.convert(mode))
    except Image.DecompressionBombError as e:
        raise CorruptDataError(f"{where}: refused by Pillow as a decompression bomb ({e}); remove it") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise CorruptDataError(f"{where}: cannot decode image ({e}); remove or replace it") from e


_Image = tuple[str, str, np.ndarray]  # (class, member name, pixels)


def load(data_path: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    path, entries, dirs = _open(data_path)
    images = _decode_all(path, entries)  # fills ``dirs`` as the entries are read
    classes = _classes(path, images, dirs)
    gray = all(a.ndim == 2 for split in SPLITS for _, _, a in images[split])
    index = {c: i for i, c in enumerate(classes)}
    train_x, train_y = _stack(images["train"], index, gray)
    test_x, test_y = _stack(images["test"], index, gray)
    return train_x, train_y, test_x, test_y, classes


def _open(data_path: str | None) -> tuple[Path, Iterator[tuple[str, bytes]], set[str]]:
    """The folder or archive's (member name, bytes) stream, and the set of folders it fills as it
    is read (an empty class folder is an error, not a dropped label)."""
    if not data_path:
        raise DatasetNotFoundError(
            "imagefolder needs --data-path: a folder or .tar/.tar.gz holding train/<class>/* and test/<class>/*"
        )
    path = Path(data_path).expanduser()
    if not path.exists():
        raise DatasetNotFoundError(f"{path} not found (expected a folder or .tar/.tar.gz with train/ and test/)")
    dirs: set[str] = set()
    if path.is_dir():
        return path, _entries_from_folder(path, dirs), dirs
    try:
        tarfile.open(path).close()  # fail early, with the file's name, on anything that is not a tar
    except tarfile.TarError as e:
        raise CorruptDataError(f"{path} is not a folder or a readable .tar/.tar.gz ({e})") from e
    return path, _entries_from_tar(path, dirs), dirs


def _decode_all(path: Path, entries: Iterator[tuple[str, bytes]]) -> dict[str, list[_Image]]:
    """Every image of the layout, decoded, by split; all must have one size."""
    images: dict[str, list[_Image]] = {s: [] for s in SPLITS}
    shape = None
    try:
        for name, blob in entries:
            key = _split_class(name)
            if key is None:
                continue
            arr = _decode(blob, f"{path}:{name}")
            if shape is None:
                shape = arr.shape[:2]
            elif arr.shape[:2] != shape:
                raise CorruptDataError(
                    f"{path}:{name} is {arr.shape[1]}x{arr.shape[0]} but earlier images are "
                    f"{shape[1]}x{shape[0]}; all images must have one size (resize them first)"
                )
            images[key[0]].append((key[1], name, arr))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise CorruptDataError(f"{path} cannot be read ({type(e).__name__}: {e}): truncated or corrupt") from e
    return images


def _classes(path: Path, images: dict[str, list[_Image]], dirs: set[str]) -> list[str]:
    """The sorted train class names, refusing an empty train class folder, an empty split and a
    test class without a train folder."""
    classes = sorted({c for c, _, _ in images["train"]})
    train_dirs = {d.split("/")[-1] for d in dirs if len(d.split("/")) >= 2 and d.split("/")[-2] == "train"}
    empty = sorted(c for c in train_dirs - set(classes) if not c.startswith("."))
    if images["train"] and empty:
        raise CorruptDataError(
            f"{path}: train/{empty[0]} holds no images; a class without images would silently "
            f"shift every later label. Add its images or remove the folder"
        )
    for split in SPLITS:
        if not images[split]:
            raise CorruptDataError(f"{path}: no {split}/<class>/*.png|jpg images found")
    unknown = sorted({c for c, _, _ in images["test"]} - set(classes))
    if unknown:
        raise CorruptDataError(f"{path}: test classes {unknown} have no train folder")
    return classes


def _stack(items: list[_Image], index: dict[str, int], gray: bool) -> tuple[torch.Tensor, torch.Tensor]:
    items.sort(key=lambda t: (index[t[0]], t[1]))  # class order, then file name: deterministic
    if gray:
        x = np.stack([a for _, _, a in items])[:, None]
    else:  # a few grayscale images among RGB ones become RGB
        x = np.stack([np.repeat(a[..., None], 3, 2) if a.ndim == 2 else a for _, _, a in items])
        x = x.transpose(0, 3, 1, 2)
    y = np.array([index[c] for c, _, _ in items], dtype=np.int64)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


@register_dataset("imagefolder", sources=lambda p, d: existing(p))
def _read(data_path: str | None, data_dir: str | None, download: bool) -> tuple:
    return load(data_path)
