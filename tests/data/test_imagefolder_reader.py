"""Image folders (folder, .tar, .tar.gz) written here, and the real CIFAR-10 JPEG archive."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from poolbench.data import CorruptDataError, DatasetNotFoundError, datasets, imagefolder, load_dataset


def write_folder(root: Path, size=(8, 8), mode="RGB", classes=("zebra", "ant", "moth")) -> dict:
    """PNG (lossless) images; class folders deliberately not in sorted order on disk."""
    rs = np.random.RandomState(0)
    pixels = {}
    for split, n in (("train", 3), ("test", 2)):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
                a = rs.randint(0, 256, shape).astype(np.uint8)
                Image.fromarray(a, mode).save(root / split / c / f"{i:02d}.png")
                pixels[(split, c, i)] = a
    (root / "train" / "README.txt").write_text("ignored")
    return pixels


def test_folder_sorted_classes_and_exact_pixels(tmp_path):
    pixels = write_folder(tmp_path / "imgs")
    ds = load_dataset("imagefolder", data_path=str(tmp_path / "imgs"))
    assert ds.classes == ["ant", "moth", "zebra"]
    assert ds.train_x.shape == (9, 3, 8, 8) and ds.test_x.shape == (6, 3, 8, 8)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert np.array_equal(ds.train_x[3].permute(1, 2, 0).numpy(), pixels[("train", "moth", 0)])
    assert np.array_equal(ds.test_x[5].permute(1, 2, 0).numpy(), pixels[("test", "zebra", 1)])


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_tar_with_wrapping_folder_equals_folder(tmp_path, mode):
    write_folder(tmp_path / "imgs")
    archive = tmp_path / ("imgs.tar" if mode == "w" else "imgs.tar.gz")
    with tarfile.open(archive, mode) as tar:
        tar.add(tmp_path / "imgs", arcname="wrapped")
    a = imagefolder.load(str(tmp_path / "imgs"))
    b = imagefolder.load(str(archive))
    assert all(torch.equal(u, v) for u, v in zip(a[:4], b[:4], strict=True)) and a[4] == b[4]


def test_grayscale_gives_one_channel(tmp_path):
    write_folder(tmp_path / "g", mode="L")
    assert imagefolder.load(str(tmp_path / "g"))[0].shape == (9, 1, 8, 8)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "g" / "train" / "ant" / "rgb.png")
    x = imagefolder.load(str(tmp_path / "g"))[0]
    assert x.shape == (10, 3, 8, 8)  # one RGB image makes the set RGB; gray images are repeated
    assert torch.equal(x[0, 0], x[0, 1])


def test_sizes_must_agree(tmp_path):
    write_folder(tmp_path / "s")
    odd = tmp_path / "s" / "test" / "moth" / "big.png"
    Image.new("RGB", (9, 8)).save(odd)
    with pytest.raises(CorruptDataError, match="one size") as e:
        imagefolder.load(str(tmp_path / "s"))
    assert "big.png" in str(e.value)


def test_layout_errors(tmp_path):
    write_folder(tmp_path / "t")
    shutil.rmtree(tmp_path / "t" / "test")
    with pytest.raises(CorruptDataError, match="no test/"):
        imagefolder.load(str(tmp_path / "t"))
    with pytest.raises(DatasetNotFoundError):
        load_dataset("imagefolder")  # no --data-path
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(CorruptDataError, match="junk.tar.gz"):
        imagefolder.load(str(tmp_path / "junk.tar.gz"))


@pytest.fixture
def real_cifar_cache(session_cache):
    """The session's cache folder: the JPEG decode happens once per session (tests/conftest.py)."""
    return session_cache


@pytest.mark.realdata
def test_real_cifar10_jpeg_archive(shared_cifar10, real_cifar_cache):
    ds = load_dataset("imagefolder", data_path=str(shared_cifar10), cache_dir=str(real_cifar_cache))
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.train_y.bincount().tolist() == [5000] * 10 and ds.test_y.bincount().tolist() == [1000] * 10
    # JPEG re-encoding moves the statistics only slightly from the official 0.4914, 0.4822, 0.4465
    assert ds.mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=2e-3)
    assert ds.std == pytest.approx((0.2470, 0.2435, 0.2616), abs=3e-3)


@pytest.mark.realdata
def test_real_cifar10_second_load_comes_from_the_cache(shared_cifar10, real_cifar_cache, monkeypatch):
    first = load_dataset("imagefolder", data_path=str(shared_cifar10), cache_dir=str(real_cifar_cache))
    datasets._MEMORY.clear()  # force the disk cache, not the in-process one

    def no_decode(*args):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setitem(datasets.READERS, "imagefolder", (no_decode, datasets.READERS["imagefolder"][1]))
    again = load_dataset("imagefolder", data_path=str(shared_cifar10), cache_dir=str(real_cifar_cache))
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_y, again.test_y)
    key = datasets.cache_key("imagefolder", str(shared_cifar10))
    assert [p.name for p in Path(real_cifar_cache).iterdir() if key in p.name] == [f"{key}.pt"]  # no leftovers
