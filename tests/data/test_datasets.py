"""load_dataset (names, cache), the synthetic dataset and split_validation."""

from __future__ import annotations

import os

import pytest
import torch

from poolbench.data import datasets, list_datasets, load_dataset, split_validation
from poolbench.data.synthetic import CLASSES, generate


def test_names_and_unknown_name():
    assert list_datasets() == [
        "cifar10",
        "cifar100",
        "fashion_mnist",
        "imagefolder",
        "mnist",
        "patterns",
        "svhn",
        "synthetic",
    ]
    with pytest.raises(ValueError, match="valid names: cifar10, cifar100"):
        load_dataset("cifar-10")


def test_a_registered_reader_is_a_dataset_and_a_name_is_registered_once(isolated_cache, monkeypatch):
    monkeypatch.setattr(datasets, "READERS", dict(datasets.READERS))
    monkeypatch.setattr(datasets, "GENERATED", dict(datasets.GENERATED))
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).reshape(2, 3, 4, 4)
    y = torch.tensor([0, 1])

    @datasets.register_dataset("tiny", sources=lambda p, d: [], generated=lambda: ["v1"])
    def read_tiny(data_path, data_dir, download):
        return x, y, x, y, ["a", "b"]

    ds = load_dataset("tiny")
    assert torch.equal(ds.train_x, x) and ds.classes == ["a", "b"] and ds.source == "generated"
    assert "tiny" in list_datasets()
    with pytest.raises(ValueError, match="'tiny' is registered twice"):
        datasets.register_dataset("tiny", sources=lambda p, d: [])(read_tiny)


def test_ctrl_c_while_decoding_says_it_was_loading_data(monkeypatch, capsys):
    """Not "interrupted in epoch 1": no epoch has started while a dataset decodes."""
    monkeypatch.setattr(datasets, "READERS", dict(datasets.READERS))

    def read_forever(data_path, data_dir, download):
        raise KeyboardInterrupt

    monkeypatch.setitem(datasets.READERS, "mnist", (read_forever, datasets.READERS["mnist"][1]))
    with pytest.raises(datasets.DataInterrupted, match=r"interrupted while loading data \(mnist\)"):
        load_dataset("mnist", data_dir=".")
    from poolbench.cli import main

    argv = ["run", "--model", "resnet20", "--dataset", "mnist", "--data-dir", ".", "--seeds", "0", "--epochs", "1"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("poolbench run: interrupted while loading data (mnist)") and "epoch 1" not in err[-1]


def test_synthetic_is_deterministic_and_cifar_shaped():
    x1, y1 = generate(200, seed=3)
    x2, y2 = generate(200, seed=3)
    x3, _ = generate(200, seed=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert x1.shape == (200, 3, 32, 32) and x1.dtype == torch.uint8 and y1.dtype == torch.int64
    assert y1.bincount().tolist() == [20] * 10


def test_synthetic_default(isolated_cache):
    ds = load_dataset("synthetic")
    assert ds.train_x.shape == (5000, 3, 32, 32) and ds.test_x.shape == (1000, 3, 32, 32)
    assert ds.classes == CLASSES and ds.num_classes == 10 and ds.source == "generated"
    # class is not given away by colour: per-class mean colours are all close to the global mean
    class_means = torch.stack([ds.train_x[ds.train_y == c].double().mean((0, 2, 3)) for c in range(10)]) / 255
    assert (class_means - torch.tensor(ds.mean)).abs().max() < 0.05
    assert len(list(isolated_cache.glob("synthetic-*.pt"))) == 1


def test_cache_is_used_and_invalidated_by_the_source(tmp_path, monkeypatch):
    from tests.data.test_idx_reader import write_idx_set  # tiny MNIST files

    write_idx_set(tmp_path / "m")
    first = load_dataset("mnist", data_path=str(tmp_path / "m"))
    datasets._MEMORY.clear()
    calls = []
    reader, sources = datasets.READERS["mnist"]
    monkeypatch.setitem(datasets.READERS, "mnist", (lambda *a: calls.append(1) or reader(*a), sources))
    assert torch.equal(load_dataset("mnist", data_path=str(tmp_path / "m")).train_x, first.train_x)
    assert calls == []  # served from the disk cache
    f = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # the source changed
    load_dataset("mnist", data_path=str(tmp_path / "m"))
    assert calls == [1]


def test_damaged_cache_is_rebuilt(tmp_path, isolated_cache):
    from tests.data.test_idx_reader import write_idx_set

    write_idx_set(tmp_path / "m")
    load_dataset("mnist", data_path=str(tmp_path / "m"))
    (cache_file,) = isolated_cache.glob("mnist-*.pt")
    cache_file.write_bytes(b"garbage")
    datasets._MEMORY.clear()
    with pytest.warns(UserWarning, match="unreadable dataset cache"):
        ds = load_dataset("mnist", data_path=str(tmp_path / "m"))
    assert ds.train_x.shape[0] == 12
    assert [p.name for p in isolated_cache.iterdir()] == [cache_file.name]  # rewritten, no temp files


def small_dataset(n: int = 103) -> datasets.Dataset:
    y = torch.arange(n) % 4
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return datasets.Dataset("tiny", x, y, x[:5], y[:5], ["a", "b", "c", "d"], (0.5,), (0.25,))


def test_split_validation_is_stratified_disjoint_and_fixed():
    ds = small_dataset()
    train, val = split_validation(ds, 20, seed=0)
    assert len(val.train_y) == 20 and len(train.train_y) == 83
    assert val.train_y.bincount().tolist() == [5, 5, 5, 5]
    ids = torch.cat([train.train_x[:, 0, 0, 0], val.train_x[:, 0, 0, 0]]).sort().values
    assert torch.equal(ids, torch.arange(103, dtype=torch.uint8))  # disjoint, nothing lost
    assert torch.equal(train.test_x, ds.test_x) and torch.equal(val.test_x, val.train_x)
    assert train.mean == ds.mean and val.name == "tiny:val"
    again, _ = split_validation(ds, 20, seed=0)
    other, _ = split_validation(ds, 20, seed=1)
    assert torch.equal(again.train_x, train.train_x) and not torch.equal(other.train_x, train.train_x)
    with pytest.raises(ValueError, match="between 1 and 102"):
        split_validation(ds, 103)


@pytest.mark.parametrize("name", ["cifar10", "imagefolder", "svhn", "fashion_mnist"])
def test_a_data_path_that_is_a_pipe_or_a_device_is_refused_before_it_is_opened(tmp_path, no_hang, name):
    import os

    from poolbench.data import CorruptDataError, load_dataset

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        with pytest.raises(CorruptDataError, match=f"--data-path {path}: not a regular file or a folder"):
            load_dataset(name, data_path=path, cache_dir=str(tmp_path / "cache"), download=False)
    with pytest.raises(CorruptDataError, match="--data-dir .*: not a regular file or a folder"):
        load_dataset(name, data_dir=str(fifo), cache_dir=str(tmp_path / "cache"), download=False)
