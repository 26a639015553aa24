"""Shared test setup: small thread count (CI has 2 cores), a temporary home and dataset cache for the
whole session, and paths to the real data."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POOLBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
CIFAR10_JPG = SHARED_DATA / "cifar10-jpg.tar.gz"
FASHION_MNIST = SHARED_DATA / "fashion-mnist"


#: The user's home as the session found it: no test may write under it (checked at the session's end).
REAL_HOME = Path.home()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """An empty folder that is $HOME for the whole session."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """The dataset cache ($POOLBENCH_CACHE) of the whole session: decoded datasets, data fingerprints
    and robustness sets land here, so the real-data tests decode each dataset once per session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session", autouse=True)
def temporary_home_and_cache(session_home, session_cache):
    """Every test runs with $POOLBENCH_CACHE in the session's temporary folder and $HOME (and
    $XDG_CACHE_HOME under it) an empty temporary folder, so the user's ~/.cache/poolbench is never
    read or written: a test that drops $POOLBENCH_CACHE falls back to the temporary home. The session
    fails at its end if anything made a poolbench cache under that home (a path that bypassed
    $POOLBENCH_CACHE). Tests that need their own empty cache still set $POOLBENCH_CACHE to tmp_path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(session_home))
        mp.setenv("XDG_CACHE_HOME", str(session_home / ".cache"))
        mp.setenv("POOLBENCH_CACHE", str(session_cache))
        yield
    bypassed = session_home / ".cache" / "poolbench"
    assert not bypassed.exists(), (
        f"a test wrote a poolbench cache under $HOME ({sorted(p.name for p in bypassed.iterdir())}): "
        f"something reads the cache folder without default_cache_dir() / $POOLBENCH_CACHE"
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip, with the reason, where no CUDA GPU is visible."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (benchmarks/gpu_run.sh runs these on the GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cuda_fp32():
    """True fp32 on the GPU: no TF32 in convolutions or matmuls (PyTorch enables it for cuDNN
    convolutions by default, ~1e-3 relative), fixed cuDNN algorithms; restored afterwards."""
    flags = (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    yield torch.device("cuda")
    (
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    ) = flags


@pytest.fixture
def shared_cifar10() -> Path:
    if not CIFAR10_JPG.exists():
        pytest.skip(f"real CIFAR-10 copy not found at {CIFAR10_JPG} (needs ../shared/data)")
    return CIFAR10_JPG


@pytest.fixture
def shared_fmnist() -> Path:
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real Fashion-MNIST not found in {FASHION_MNIST} (needs ../shared/data)")
    return FASHION_MNIST


@pytest.fixture
def no_hang():
    """Fail, rather than wait forever, when the code under test blocks (a FIFO opened for reading)."""
    import signal

    def stop(*_):
        raise TimeoutError("blocked for 30 s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes and then fails like a full disk."""

    def __init__(self, raw, room):
        self.raw, self.room = raw, room

    def writable(self):
        return True

    def write(self, b):
        if len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.raw.write(b)

    def close(self):
        self.raw.close()
        super().close()


@pytest.fixture
def disk_with_room(monkeypatch):
    """fileio's files take this many bytes, then ENOSPC (the write path of a real full disk)."""
    from poolbench import fileio

    real = os.fdopen

    def install(room):
        monkeypatch.setattr(
            fileio.os,
            "fdopen",
            lambda fd, mode="r", **kw: (
                io.BufferedWriter(FullDisk(real(fd, "wb", buffering=0), room)) if "w" in mode else real(fd, mode, **kw)
            ),
        )

    return install
