"""CIFAR-10/100 readers on tiny archives written here in the official layout; checksum, corrupt,
truncated and download behaviour (with urlopen faked: no network is used)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from poolbench.data import ChecksumError, CorruptDataError, DatasetNotFoundError, cifar, load_dataset


def _pickle(obj: dict) -> bytes:
    return pickle.dumps(obj, protocol=2)


def write_archive(path: Path, name: str, n_per_batch: int = 4, seed: int = 0) -> dict:
    """An official-layout archive with random images; returns what it holds for comparison."""
    spec = cifar.SPECS[name]
    rs = np.random.RandomState(seed)
    n_classes = 10 if name == "cifar10" else 100
    members, expect = {}, {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    for m in (*spec.train, spec.test):
        data = rs.randint(0, 256, (n_per_batch, 3072)).astype(np.uint8)
        labels = [int(v) for v in rs.randint(0, n_classes, n_per_batch)]
        d = {b"batch_label": b"x", b"data": data, b"filenames": [b"f.png"] * n_per_batch}
        if name == "cifar10":
            d[b"labels"] = labels
        else:
            d[b"fine_labels"], d[b"coarse_labels"] = labels, [0] * n_per_batch
        members[m] = _pickle(d)
        split = "test" if m == spec.test else "train"
        expect[f"{split}_x"].append(data.reshape(-1, 3, 32, 32))
        expect[f"{split}_y"] += labels
    names = [f"class{i:03d}".encode() for i in range(n_classes)]
    members[spec.meta] = _pickle({spec.names_key: names, b"num_cases_per_batch": n_per_batch})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for m, blob in members.items():
            info = tarfile.TarInfo(f"{spec.folder}/{m}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    expect["train_x"] = np.concatenate(expect["train_x"])
    expect["test_x"] = np.concatenate(expect["test_x"])
    expect["classes"] = [n.decode() for n in names]
    return expect


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def accept(monkeypatch, name: str, digest: str) -> None:
    """Pretend ``digest`` is the official MD5 (the tiny archives are not the official files)."""
    monkeypatch.setitem(cifar.SPECS, name, dataclasses.replace(cifar.SPECS[name], md5=digest))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_reads_official_layout(tmp_path, name):
    path = tmp_path / cifar.SPECS[name].filename
    expect = write_archive(path, name)
    train_x, train_y, test_x, test_y, classes = cifar.read_archive(name, path)
    n_train = 4 * len(cifar.SPECS[name].train)
    assert train_x.shape == (n_train, 3, 32, 32) and train_x.dtype == torch.uint8
    assert np.array_equal(train_x.numpy(), expect["train_x"]) and train_y.tolist() == expect["train_y"]
    assert np.array_equal(test_x.numpy(), expect["test_x"]) and test_y.tolist() == expect["test_y"]
    assert train_y.dtype == torch.int64 and classes == expect["classes"]


def test_load_dataset_end_to_end_with_accepted_checksum(tmp_path, monkeypatch):
    path = tmp_path / "cifar-100-python.tar.gz"
    expect = write_archive(path, "cifar100", n_per_batch=20)
    accept(monkeypatch, "cifar100", md5(path))
    ds = load_dataset("cifar100", data_dir=str(tmp_path), download=False)
    assert ds.num_classes == 100 and ds.in_chans == 3 and len(ds.train_y) == 20 and len(ds.test_y) == 20
    assert ds.classes == expect["classes"]
    assert ds.mean == pytest.approx(tuple(expect["train_x"].mean((0, 2, 3)) / 255), abs=1e-5)
    same = load_dataset("cifar100", data_path=str(path), download=False)  # data_path: the archive itself
    assert torch.equal(same.train_x, ds.train_x)


def test_wrong_checksum_names_file_and_both_md5s(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_archive(path, "cifar10")
    with pytest.raises(ChecksumError) as e:
        load_dataset("cifar10", data_dir=str(tmp_path), download=False)
    msg = str(e.value)
    assert str(path) in msg and cifar.SPECS["cifar10"].md5 in msg and md5(path) in msg
    assert "Delete it" in msg and cifar.SPECS["cifar10"].url in msg


def test_truncated_archive_is_reported_not_misread(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_archive(path, "cifar10", n_per_batch=50)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ChecksumError):  # the normal path: MD5 catches it first
        load_dataset("cifar10", data_dir=str(tmp_path), download=False)
    with pytest.raises(CorruptDataError, match="truncated or corrupt") as e:  # and the reader on its own
        cifar.load("cifar10", data_dir=str(tmp_path), check_md5=False)
    assert str(path) in str(e.value)


def test_not_a_cifar_archive_points_to_imagefolder(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("train/cat/0.png")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(CorruptDataError, match="imagefolder"):
        cifar.read_archive("cifar10", path)


def test_pickles_may_hold_only_arrays(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_archive(path, "cifar10")
    evil = pickle.dumps({b"data": os.getcwd}, protocol=2)  # any global other than numpy's
    with tarfile.open(path, "w:gz") as tar:
        for m in (*cifar.SPECS["cifar10"].train, "test_batch", "batches.meta"):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{m}")
            info.size = len(evil)
            tar.addfile(info, io.BytesIO(evil))
    with pytest.raises(CorruptDataError, match="unexpected object"):
        cifar.read_archive("cifar10", path)


def test_missing_without_download_says_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("cifar100", data_dir=str(tmp_path), download=False)
    assert "cifar-100-python.tar.gz" in str(e.value) and cifar.SPECS["cifar100"].url in str(e.value)


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, fail_after: int = -1):
        super().__init__(data)
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after >= 0 and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection dropped")
        return super().read(n)


def _serve(monkeypatch, payload: bytes, fail_after: int = -1, error: Exception = None):
    seen = []

    def urlopen(url, timeout=None):
        seen.append(url)
        if error:
            raise error
        return FakeResponse(payload, fail_after)

    monkeypatch.setattr(cifar.urllib.request, "urlopen", urlopen)
    return seen


def test_download_checks_md5_then_renames_atomically(tmp_path, monkeypatch):
    src = tmp_path / "src.tar.gz"
    write_archive(src, "cifar10")
    accept(monkeypatch, "cifar10", md5(src))
    seen = _serve(monkeypatch, src.read_bytes())
    data = tmp_path / "data"
    ds = load_dataset("cifar10", data_dir=str(data))
    assert seen == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-python.tar.gz"]
    assert len(ds.train_y) == 20


@pytest.mark.parametrize("failure", ["bad_md5", "dropped", "offline"])
def test_failed_download_leaves_nothing(tmp_path, monkeypatch, failure):
    src = tmp_path / "src.tar.gz"
    write_archive(src, "cifar10", n_per_batch=40)
    accept(monkeypatch, "cifar10", md5(src) if failure != "bad_md5" else "0" * 32)
    if failure == "offline":
        _serve(monkeypatch, b"", error=urllib.error.URLError("no network"))
    elif failure == "dropped":  # the connection dies after the first 1 MiB block
        _serve(monkeypatch, src.read_bytes() + os.urandom(3 << 20), fail_after=1 << 20)
    else:
        _serve(monkeypatch, src.read_bytes())
    data = tmp_path / "data"
    expected = ChecksumError if failure == "bad_md5" else DatasetNotFoundError
    with pytest.raises(expected) as e:
        load_dataset("cifar10", data_dir=str(data))
    assert "cifar-10-python.tar.gz" in str(e.value)
    assert list(data.iterdir()) == []  # no archive, no .part file
