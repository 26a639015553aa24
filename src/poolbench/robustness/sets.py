"""CIFAR-10-C / CIFAR-100-C and CIFAR-10-P sets on disk: the released files' layout, their readers,
and generated sets written in the same layout (cached, checksummed, atomically written).

Layout (Hendrycks & Dietterich's released CIFAR-10-C, CIFAR-100-C and CIFAR-10-P):

* ``-C``: ``<corruption>.npy`` uint8 [5 N, 32, 32, 3], severities 1..5 stacked in blocks of N
  (N = 10,000), and ``labels.npy`` [5 N] (the test labels repeated five times);
* ``-P``: ``<sequence>.npy`` uint8 [N, T, 32, 32, 3], one file per sequence (``gaussian_noise``,
  ``gaussian_noise_2``, ...), T frames each.

Every file is read with ``np.load(allow_pickle=False, mmap_mode='r')``: nothing in a set can run
code, and a 150 MB corruption file is paged in as it is evaluated.

A generated set lives in ``<cache>/robustness/<key>/`` where the key hashes the generator version,
the seed and the clean images and labels; each file is written to a temporary name and renamed, and
``manifest.json`` records its sha256, checked whenever the set is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..fileio import LARGE_FILE_CAP, UnsafeFileError, atomic_write, open_regular, read_bytes, sha256_file
from ..runs import atomic_write_json
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .perturbations import SEQUENCES, perturb

# Bump when any corruption or sequence changes its output: the version keys the cache folders, so a
# regenerated set never mixes with files of an older generator. 2: a spatter frame whose water mask
# is all zero is black, as the reference generators store it (1 kept the clean image there).
GENERATOR_VERSION = 2
IMAGE = (32, 32, 3)


#: The largest manifest.json: a few lines per file of a set.
MANIFEST_CAP = 1 << 20


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ValueError(f"{path} is missing")
    with open_regular(path, LARGE_FILE_CAP):  # a link, a FIFO or a device is refused before numpy opens it
        pass
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path} is not a plain .npy array ({exc})") from None


def read_c(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [5, N, 32, 32, 3] uint8, labels [N] int64) of corruption ``name`` in a -C folder."""
    root = Path(root)
    x, y = _load(root / f"{name}.npy"), _load(root / "labels.npy")
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE or x.shape[0] % 5:
        raise ValueError(
            f"{root / (name + '.npy')}: expected uint8 [5 N, 32, 32, 3] (severities 1-5 in blocks "
            f"of N), got {x.dtype} {x.shape}"
        )
    n = x.shape[0] // 5
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{root / 'labels.npy'}: expected [{x.shape[0]}] labels for {name}, got {y.shape}")
    labels = np.asarray(y[:n], dtype=np.int64)
    if not all(np.array_equal(labels, y[k * n : (k + 1) * n]) for k in range(1, 5)):
        raise ValueError(f"{root / 'labels.npy'}: the five severity blocks do not carry the same labels")
    return x.reshape(5, n, *IMAGE), labels


def read_p(root: Path, name: str, frames: int | None = None) -> np.ndarray:
    """images [N, T, 32, 32, 3] uint8 of sequence file ``name`` in a -P folder."""
    path = Path(root) / f"{name}.npy"
    x = _load(path)
    if x.dtype != np.uint8 or x.ndim != 5 or x.shape[2:] != IMAGE:
        raise ValueError(f"{path}: expected uint8 [N, T, 32, 32, 3], got {x.dtype} {x.shape}")
    if frames is not None and x.shape[1] != frames:
        raise ValueError(f"{path}: {x.shape[1]} frames per sequence, CIFAR-10-P's {name} has {frames}")
    return x


def frames_of(name: str) -> int:
    """T of sequence file ``name`` (as the generator makes it)."""
    return {"motion_blur": 21, "translate": 16}.get(name, 31)


# ----------------------------------------------------------------------------- generated sets
def _save_atomic(path: Path, arr: np.ndarray) -> str:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(arr), allow_pickle=False))
    return sha256_file(path, LARGE_FILE_CAP)


def set_key(kind: str, images: np.ndarray, labels: np.ndarray | None, seed: int) -> str:
    h = hashlib.sha256(json.dumps([GENERATOR_VERSION, kind, seed, list(images.shape)]).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:20]


class GeneratedSet:
    """A folder of generated files with a checksum manifest; ``ensure(name, make)`` returns the
    file's path, making it (atomically) when absent and verifying its sha256 when present. A file
    that does not match its recorded sha256, and a manifest that is not one poolbench wrote, are
    made again with a one-line notice (``notice``), never silently."""

    def __init__(self, root: Path, meta: dict, notice: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.meta = meta
        self.manifest_path = self.root / "manifest.json"
        self.notice = notice or _warn
        self._told: set[str] = set()

    def _tell(self, line: str) -> None:
        if line not in self._told:  # once per problem, however often the manifest is read
            self._told.add(line)
            self.notice(line)

    def _manifest(self) -> dict:
        """The manifest, or a fresh one (with a notice) when it is missing, unreadable or not of
        poolbench's shape: ``{"meta": {...}, "files": {name: sha256}}``."""
        fresh = {"meta": self.meta, "files": {}}
        if not os.path.lexists(self.manifest_path):
            return fresh
        try:
            manifest = json.loads(read_bytes(self.manifest_path, MANIFEST_CAP).decode("utf-8"))
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                raise ValueError("it has no 'files' object of names and sha256s")
        except (OSError, ValueError) as exc:  # UnsafeFileError, JSON and UTF-8 errors are ValueErrors
            self._tell(
                f"{self.manifest_path} is not a manifest poolbench wrote ({_one_line(exc)}): making the set again"
            )
            return fresh
        return manifest

    def ensure(self, name: str, make: Callable[[], np.ndarray]) -> Path:
        path = self.root / f"{name}.npy"
        manifest = self._manifest()
        digest = manifest["files"].get(path.name)
        if os.path.lexists(path) and digest:
            try:
                now = sha256_file(path, LARGE_FILE_CAP)
            except (OSError, UnsafeFileError) as exc:
                now = _one_line(exc)
            if now == digest:
                return path
            self._tell(
                f"{path} does not match the sha256 in {self.manifest_path.name} (changed or replaced): making it again"
            )
            path.unlink()  # the name only: a link is removed, never followed
        digest = _save_atomic(path, make())
        manifest = self._manifest()  # re-read: another file may have been added meanwhile
        manifest["files"][path.name] = digest
        atomic_write_json(self.manifest_path, manifest)
        return path


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _warn(line: str) -> None:
    print(f"poolbench: {line}", file=sys.stderr, flush=True)


def generate_c(
    images: np.ndarray,
    labels: np.ndarray,
    root: Path,
    names: Iterable[str] = tuple(CORRUPTIONS),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write (or reuse) the -C set of ``images`` (uint8 [N, 32, 32, 3]) under ``root``; returns its folder."""
    folder = Path(root) / f"c-{set_key('c', images, labels, seed)}"
    gen = GeneratedSet(folder, {"kind": "c", "seed": seed, "n": len(images), "version": GENERATOR_VERSION})
    gen.ensure("labels", lambda: np.tile(np.asarray(labels, dtype=np.uint8 if labels.max() < 256 else np.int64), 5))
    for name in names:
        if progress:
            progress(name)
        gen.ensure(name, lambda name=name: np.concatenate([corrupt(images, name, s, seed) for s in SEVERITIES]))
    return folder


def generate_p(
    images: np.ndarray,
    root: Path,
    names: Iterable[str] = tuple(SEQUENCES),
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write (or reuse) the -P set of ``images`` under ``root``; returns its folder."""
    folder = Path(root) / f"p-{set_key('p', images, None, seed)}"
    gen = GeneratedSet(folder, {"kind": "p", "seed": seed, "n": len(images), "version": GENERATOR_VERSION})
    for name in names:
        if progress:
            progress(name)
        gen.ensure(name, lambda name=name: perturb(images, name, seed))
    return folder


def present(root: Path, names: Iterable[str]) -> list[str]:
    """The names whose ``<name>.npy`` is in ``root`` (a released set may hold only some)."""
    return [n for n in names if (Path(root) / f"{n}.npy").is_file()]
