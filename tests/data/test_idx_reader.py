"""MNIST / Fashion-MNIST idx reader: tiny files written here (gz and raw), errors, and the real
Fashion-MNIST copy in ../shared/data."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from poolbench.data import CorruptDataError, DatasetNotFoundError, load_dataset
from poolbench.data.idx import FILES, read_idx


def idx_bytes(a: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True, seed: int = 0) -> dict:
    rs = np.random.RandomState(seed)
    arrays = {
        "train_x": rs.randint(0, 256, (n_train, 28, 28)),
        "train_y": rs.randint(0, 10, n_train),
        "test_x": rs.randint(0, 256, (n_test, 28, 28)),
        "test_y": rs.randint(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in FILES.items():
        blob = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / stem).write_bytes(blob)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_reads_tiny_idx_files(tmp_path, gz):
    arrays = write_idx_set(tmp_path / "mnist", gz=gz)
    ds = load_dataset("mnist", data_dir=str(tmp_path))
    assert ds.train_x.shape == (12, 1, 28, 28) and ds.test_x.shape == (5, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert np.array_equal(ds.train_x[:, 0].numpy(), arrays["train_x"])
    assert ds.test_y.tolist() == arrays["test_y"].tolist()
    assert ds.classes == [str(i) for i in range(10)] and ds.in_chans == 1


def test_data_path_is_the_folder(tmp_path):
    write_idx_set(tmp_path / "anywhere")
    ds = load_dataset("fashion_mnist", data_path=str(tmp_path / "anywhere"))
    assert ds.classes[0] == "T-shirt/top" and ds.num_classes == 10


def test_truncated_raw_file(tmp_path):
    write_idx_set(tmp_path, gz=False)
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="truncated") as e:
        load_dataset("mnist", data_path=str(tmp_path))
    assert str(f) in str(e.value)


def test_truncated_gzip_file(tmp_path):
    write_idx_set(tmp_path)
    f = tmp_path / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(CorruptDataError, match="truncated") as e:
        load_dataset("mnist", data_path=str(tmp_path))
    assert str(f) in str(e.value)


def test_wrong_magic_and_mismatched_counts(tmp_path):
    f = tmp_path / "labels"
    f.write_bytes(idx_bytes(np.zeros(4)))
    with pytest.raises(CorruptDataError, match="magic"):
        read_idx(f, 3)  # a label file where images were expected
    write_idx_set(tmp_path / "bad")
    (tmp_path / "bad" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3))))
    with pytest.raises(CorruptDataError, match="12 images but"):
        load_dataset("mnist", data_path=str(tmp_path / "bad"))


def test_missing_files_say_where_we_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte") as e:
        load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert str(tmp_path / "fashion-mnist") in str(e.value)


@pytest.mark.realdata
def test_real_fashion_mnist(shared_fmnist):
    ds = load_dataset("fashion_mnist", data_path=str(shared_fmnist))
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.bincount().tolist() == [6000] * 10 and ds.test_y.bincount().tolist() == [1000] * 10
    assert ds.mean[0] == pytest.approx(0.2860, abs=5e-5)  # the official statistics
    assert ds.std[0] == pytest.approx(0.3530, abs=5e-5)
    assert ds.test_x.double().mean().item() / 255 == pytest.approx(0.2868, abs=5e-5)
