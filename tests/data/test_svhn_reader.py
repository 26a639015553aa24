"""SVHN from .mat files the tests write in the official layout (X: 32x32x3xN uint8, y: Nx1, 10 = digit 0)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import scipy.io
import torch

from poolbench.data import ChecksumError, CorruptDataError, DatasetNotFoundError, load_dataset, svhn


def write_mat(path, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 1..10, as the official files
    scipy.io.savemat(str(path), {"X": x, "y": y})
    return x, y


def accept(monkeypatch, folder):
    files = {
        k: dataclasses.replace(f, md5=hashlib.md5((folder / f.filename).read_bytes()).hexdigest())
        for k, f in svhn.FILES.items()
    }
    monkeypatch.setattr(svhn, "FILES", files)


def test_official_layout_labels_and_checksums(tmp_path, monkeypatch):
    x, y = write_mat(tmp_path / "train_32x32.mat", 20, 0)
    write_mat(tmp_path / "test_32x32.mat", 10, 1)
    accept(monkeypatch, tmp_path)
    ds = load_dataset("svhn", data_dir=str(tmp_path))
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (10, 3, 32, 32) and ds.classes == svhn.CLASSES
    assert ds.train_y.tolist() == [(i % 10 + 1) % 10 for i in range(20)]  # label 10 is the digit 0
    assert ds.train_y[9] == 0 and ds.train_y[0] == 1
    assert torch.equal(ds.train_x[3, 2, 5, 7], torch.tensor(int(x[5, 7, 2, 3])))  # X[h, w, c, n] -> [n, c, h, w]


def test_the_official_md5s_are_the_published_ones():
    assert svhn.FILES["train"].md5 == "e26dedcc434d2e4c54c9b2d4a06d8373"
    assert svhn.FILES["test"].md5 == "eb5a983be6a315427106f1b164d9cef3"


def test_wrong_checksum_missing_file_and_bad_layout(tmp_path, monkeypatch):
    write_mat(tmp_path / "train_32x32.mat", 4, 0)
    write_mat(tmp_path / "test_32x32.mat", 4, 1)
    with pytest.raises(ChecksumError, match="e26dedcc434d2e4c54c9b2d4a06d8373"):
        svhn.load(data_dir=str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="train_32x32.mat"):
        svhn.load(data_dir=str(tmp_path / "nowhere"), allow_download=False)
    (tmp_path / "bad").mkdir()
    scipy.io.savemat(
        str(tmp_path / "bad" / "train_32x32.mat"), {"X": np.zeros((28, 28, 1, 2), np.uint8), "y": np.ones((2, 1))}
    )
    with pytest.raises(CorruptDataError, match="official layout"):
        svhn.read_mat(tmp_path / "bad" / "train_32x32.mat")
    (tmp_path / "bad" / "test_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(CorruptDataError, match="cannot be read"):
        svhn.read_mat(tmp_path / "bad" / "test_32x32.mat")


def test_a_data_path_that_is_a_file_is_refused_naming_the_folder_it_wants(tmp_path):
    f = tmp_path / "train_32x32.mat"
    f.write_bytes(b"not a folder")
    with pytest.raises(CorruptDataError, match=r"svhn --data-path .* is a file; give the folder holding train_32x32"):
        load_dataset("svhn", data_path=str(f), cache_dir=str(tmp_path / "cache"))
