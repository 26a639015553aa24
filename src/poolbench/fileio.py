"""Reading and writing files in folders someone else may write: the one way poolbench does both.

A runs directory, a report folder or a data cache can be shared (NFS for Ray, a colleague's
tarball, a world-writable scratch disk), so a file there may have been replaced by a link to one of
yours, a FIFO, ``/dev/zero`` or a file of many gigabytes. Every write and every read of such a
file goes through this module:

* ``atomic_write`` writes a new temporary file beside the target (created with
  ``O_EXCL | O_NOFOLLOW``, so it is always a fresh file of ours), fsyncs it and renames it over the
  target: a reader, or a process killed at any instant, sees the old file or the whole new one,
  never a part. A target that is a symbolic link or not a regular file is refused
  (``UnsafeFileError``): poolbench never writes through a link it did not make. The temporary file
  is removed on any failure, a full disk included, and is locked (``flock``) while its writer
  lives, so ``remove_stale_temps`` deletes only the ones a killed process left behind.
* ``append_line`` appends one short line to a regular file, refusing links and FIFOs alike.
* ``read_bytes`` / ``sha256_file`` read a regular file only, never through a link, and only up to a
  size cap: a FIFO, a device or a link to ``/dev/zero`` is one ``UnsafeFileError`` naming the file,
  never a hang or a MemoryError.

Why refuse every link rather than the ones that point out of the folder: poolbench never makes a
link, so any link is someone else's, and "where does it point" is a question whose answer can
change between the check and the use.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

try:  # advisory locks mark a temporary file as alive; without them stale files are left alone
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

PathLike = str | Path

#: The suffix of every temporary file this module makes (``.<target name>.<random>.tmp``).
TEMP_SUFFIX = ".tmp"
#: The default read cap: far above any JSON or JSONL file poolbench writes, far below a MemoryError.
DEFAULT_READ_CAP = 64 << 20
#: The cap for the large files poolbench reads (checkpoints, weights, CIFAR-10-C/-P arrays): a
#: released CIFAR-10-P sequence file is about 0.9 GB.
LARGE_FILE_CAP = 4 << 30

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(ValueError):
    """A file poolbench refuses to read or write (a link, a FIFO, a device, too large); the message
    names it and says what to do."""


class FileTooLargeError(UnsafeFileError):
    """A regular file larger than what poolbench reads from such a file."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refusal(path: Path, mode: int, doing: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{path} is {_kind(mode)}, not a regular file: poolbench does not {doing} it (it did not make it); move it away"
    )


def check_destination(path: PathLike) -> None:
    """UnsafeFileError when ``path`` exists and is not a regular file (a link, a FIFO, a folder)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _refusal(path, mode, "write through")


def _lock(fd: int) -> bool:
    """Take this file's exclusive advisory lock without waiting; False when another holds it."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _new_temp(path: Path) -> tuple[int, Path]:
    """A new, locked, empty temporary file beside ``path``: (fd, its path).

    ``O_EXCL | O_NOFOLLOW`` makes it a file of ours whatever the folder holds; the lock says it is
    alive. ``remove_stale_temps`` may delete it between its creation and the lock, so the name is
    checked to still be this file once the lock is held."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
        except FileExistsError:
            continue
        _lock(fd)
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(tmp))
        except FileNotFoundError:
            same = False
        if same:
            return fd, tmp
        os.close(fd)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: PathLike) -> Iterator[tuple[Path, int]]:
    """Yields (temporary path, its fd) for the caller to fill (by fd, or by name for a library that
    opens files itself, like sqlite3); when the block ends without an exception the file is fsync'ed
    and renamed over ``path``, otherwise removed. UnsafeFileError when ``path`` is not a regular file."""
    path = Path(path)
    check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path)
    try:
        yield tmp, fd
        os.fsync(fd)
        check_destination(path)  # a link planted while we wrote is refused too
        os.replace(tmp, path)  # replaces the name, never writes through it
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno and not exc.filename:  # a full disk names the file it cost
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """``write(f)`` into a fresh temporary file beside ``path``, fsync, rename it over ``path``: a
    reader sees the old file or the whole new one, never a part (see the module docstring)."""
    with replacing(path) as (_, fd), os.fdopen(os.dup(fd), "wb") as f:
        write(f)
        f.flush()


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(path: PathLike, obj: Any) -> None:
    """``torch.save(obj)`` as an atomic write (a checkpoint or a weights file is whole or absent)."""
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))


def append_line(path: PathLike, line: str) -> None:
    """Append one line (a short write: whole or absent) to a regular file, creating it; a link, a
    FIFO or a device at ``path`` is an UnsafeFileError, never followed or blocked on."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _refusal(path, os.lstat(path).st_mode, "write through") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refusal(path, mode, "write through")
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        if os.write(fd, data) != len(data):
            raise OSError(errno.EIO, "short write", str(path))
    finally:
        os.close(fd)


def make_folder(path: PathLike) -> Path:
    """``path`` as a folder (made with its parents when missing); UnsafeFileError when something
    else is there, a link to a folder included: files written into it would land where the link points."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise UnsafeFileError(
            f"{path} is {_kind(mode)}, not a folder: poolbench does not write into it "
            f"(it did not make it); move it away"
        )
    return path


@contextlib.contextmanager
def open_regular(path: PathLike, cap: int) -> Iterator[tuple[BinaryIO, int]]:
    """(binary file, size) of a regular file opened without following a link or blocking on a FIFO;
    UnsafeFileError when it is anything else or larger than ``cap`` bytes; FileNotFoundError when
    nothing is there."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise _refusal(path, stat.S_IFLNK, "read") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refusal(path, st.st_mode, "read")
        if st.st_size > cap:
            raise FileTooLargeError(
                f"{path} is {st.st_size:,} bytes, more than the {cap:,} poolbench reads from such a file: "
                f"it was not written by poolbench or was damaged; move it away"
            )
        yield f, st.st_size


def read_bytes(path: PathLike, cap: int = DEFAULT_READ_CAP) -> bytes:
    """The content of a regular file of at most ``cap`` bytes (see ``open_regular``)."""
    with open_regular(path, cap) as (f, _):
        data = f.read(cap + 1)
    if len(data) > cap:  # it grew while we read
        raise FileTooLargeError(f"{path} grew past {cap:,} bytes while it was read; move it away")
    return data


def sha256_file(path: PathLike, cap: int) -> str:
    """The sha256 (hex) of a regular file of at most ``cap`` bytes, read in chunks."""
    h = hashlib.sha256()
    with open_regular(path, cap) as (f, _):
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def remove_stale_temps(folder: PathLike, prefix: str = ".") -> list[Path]:
    """Delete the temporary files (``<prefix>*.tmp``) in ``folder`` that a killed writer left: only
    regular files whose lock nobody holds, so a live writer's file (another process, now) is kept.
    Returns what was deleted."""
    removed: list[Path] = []
    folder = Path(folder)
    if fcntl is None or not folder.is_dir():
        return removed
    for tmp in folder.glob(f"{prefix}*{TEMP_SUFFIX}"):
        try:
            fd = os.open(tmp, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
        except OSError:
            continue  # a link or gone: not ours
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd) and os.path.samestat(os.fstat(fd), os.lstat(tmp)):
                os.unlink(tmp)
                removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
