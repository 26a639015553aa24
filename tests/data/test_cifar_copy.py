"""An image-folder copy of CIFAR-10 read as --dataset cifar10 (labelled cifar10-jpeg); checksum
messages about read-only files; no download into a read-only folder."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poolbench.data import ChecksumError, CorruptDataError, DatasetNotFoundError, cifar, cifar_copy, load_dataset


@pytest.fixture
def small_counts(monkeypatch):
    monkeypatch.setattr(cifar_copy, "PER_CLASS", (2, 1))


def write_copy(root: Path, classes=cifar_copy.CLASSES, per_class=(2, 1), as_tar=True, size=32) -> Path:
    rs = np.random.RandomState(0)
    for split, n in zip(("train", "test"), per_class, strict=True):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rs.randint(0, 256, (size, size, 3)).astype(np.uint8)).save(
                    root / split / c / f"{i}.jpg"
                )
    if not as_tar:
        return root
    tar_path = root.parent / "cifar10-jpg.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(root / split, arcname=split)
    return tar_path


def test_the_jpeg_copy_reads_as_cifar10_and_is_labelled_so(tmp_path, small_counts):
    tar = write_copy(tmp_path / "src")
    ds = load_dataset("cifar10", data_path=str(tar))
    assert ds.label == "cifar10-jpeg" and ds.classes == cifar_copy.CLASSES
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (10, 3, 32, 32)
    folder = load_dataset("cifar10", data_path=str(tmp_path / "src"))  # the unpacked folder too
    assert folder.label == "cifar10-jpeg"


def test_a_known_copy_is_found_in_data_dir(tmp_path, small_counts):
    write_copy(tmp_path / "src")  # writes tmp_path/cifar10-jpg.tar.gz
    assert load_dataset("cifar10", data_dir=str(tmp_path)).label == "cifar10-jpeg"


def test_an_image_folder_that_is_not_cifar10_is_refused_with_the_fix(tmp_path, small_counts):
    tar = write_copy(tmp_path / "src", classes=["cat", "dog"])
    with pytest.raises(CorruptDataError, match="not a copy of CIFAR-10.*--dataset imagefolder"):
        load_dataset("cifar10", data_path=str(tar))


@pytest.mark.slow  # trains: 4 s on 2 cores
def test_the_run_column_is_cifar10_jpeg(tmp_path, small_counts):
    from poolbench.results.index import build_index
    from poolbench.train import Protocol, RunConfig
    from poolbench.train.engine import train_run

    tar = write_copy(tmp_path / "src")
    cfg = RunConfig(model="resnet20", dataset="cifar10", data_path=str(tar), protocol=Protocol(epochs=1))
    assert train_run(cfg, tmp_path / "runs", device="cpu", progress=False)["status"] == "finished"
    (row,) = build_index(tmp_path / "runs").execute("SELECT column_key FROM runs").fetchall()
    assert row["column_key"] == "resnet20-cifar10-jpeg"


def _read_only(path: Path):
    path.chmod(0o444 if path.is_file() else 0o555)


def test_a_checksum_error_on_a_read_only_file_does_not_say_delete_it(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    bad = shared / "cifar-10-python.tar.gz"
    bad.write_bytes(b"not the archive")
    _read_only(bad)
    _read_only(shared)
    try:
        with pytest.raises(ChecksumError) as e:
            load_dataset("cifar10", data_dir=str(shared))
        assert "read-only" in str(e.value) and "Delete it" not in str(e.value)
    finally:
        shared.chmod(0o755)


def test_nothing_is_downloaded_into_a_read_only_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    _read_only(shared)
    monkeypatch.setattr(cifar.urllib.request, "urlopen", lambda *a, **k: pytest.fail("tried to download"))
    try:
        with pytest.raises(DatasetNotFoundError, match="read-only.*never downloads into it"):
            load_dataset("cifar10", data_dir=str(shared))
        assert os.listdir(shared) == []
    finally:
        shared.chmod(0o755)


@pytest.mark.realdata
@pytest.mark.slow
def test_the_shared_jpeg_copy_is_cifar10_jpeg(shared_cifar10):
    ds = load_dataset("cifar10", data_path=str(shared_cifar10))
    assert ds.label == "cifar10-jpeg" and len(ds.train_y) == 50000 and len(ds.test_y) == 10000
