"""``poolbench sweep --suite spatial``: it plans its three columns, and each column trains.

The smoke runs are one epoch on small subsets with one thread: they show that every column's model
builds, trains and is recorded (labelled non-standard, with whose column it is), not how pools
compare. CIFAR-100 is not on these machines, so the real-data run is the ``spatial-cifar10`` form
(the CIFAR-10 JPEG copy and Fashion-MNIST from ../shared/data); the other one swaps every column's
dataset for the generated ``synthetic`` set, so it runs wherever the tests run.
"""

from __future__ import annotations

import json

import pytest
import torch

from poolbench.cli import main
from poolbench.executors.local import LocalExecutor
from poolbench.runs import RunDir
from poolbench.sweep import expand_suite, run_sweep
from poolbench.train import Protocol
from poolbench.train.resolve import resolve
from tests.conftest import SHARED_DATA

SMOKE = Protocol(epochs=1, train_subset=64, test_subset=64)
SMOKE_FLAGS = ["--epochs", "1", "--train-subset", "64", "--test-subset", "64", "--no-progress"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # builds the three models to check the grid: ~3 s on 2 cores
def test_dry_run_plans_the_spatial_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data dir is ./data: nothing there, nothing downloaded
    argv = ["sweep", "--suite", "spatial", "--pools", "avg,max", "--runs-dir", str(tmp_path), "--dry-run"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "18 runs: 0 new, 0 resume, 0 failed, 0 done, 18 no data"  # 3 columns x 2 pools x 3 seeds
    planned = [line.split()[2] for line in lines[:-1]]
    for column in ("resnet56-cifar100", "vgg16_bn_s2-cifar100", "mobilenetv2_s4-fashion_mnist"):
        assert sum(p.startswith(column) for p in planned) == 6
    assert not (tmp_path / "data").exists()


@pytest.mark.slow  # trains three models for one epoch: ~10-30 s on 2 cores
def test_one_smoke_run_per_column_on_generated_data(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    configs = [c.replace(dataset="synthetic") for c in expand_suite("spatial", ["max"], [0], SMOKE)]
    summary = run_sweep(configs, tmp_path / "runs", LocalExecutor(progress=False))
    assert (summary.finished, summary.failed, summary.diverged) == (3, 0, 0)
    for cfg in configs:
        config = json.loads(RunDir(tmp_path / "runs", resolve(cfg).run_id).config.read_text())
        assert config["standard"] is False and config["protocol_label"].startswith("non-standard")


@pytest.mark.slow
@pytest.mark.realdata  # the CIFAR-10 JPEG copy (decoded once: 15-50 s) and Fashion-MNIST
def test_one_smoke_run_per_column_on_the_real_data(tmp_path, capsys, one_thread):
    if not (SHARED_DATA / "cifar10-jpg.tar.gz").exists() or not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.skip(f"real CIFAR-10 copy or Fashion-MNIST not found in {SHARED_DATA}")
    runs = tmp_path / "runs"
    argv = ["sweep", "--suite", "spatial-cifar10", "--pools", "avg", "--seeds", "0", "--runs-dir", str(runs)]
    assert main(argv + ["--data-dir", str(SHARED_DATA)] + SMOKE_FLAGS) == 0
    assert "3 runs: 0 skipped (already done), 3 finished, 0 diverged, 0 failed" in capsys.readouterr().out
    configs = {c["model"]: c for c in (json.loads(p.read_text()) for p in runs.glob("*/config.json"))}
    assert sorted(configs) == ["mobilenetv2_s4", "resnet56", "vgg16_bn_s2"]
    assert {m: c["column_origin"] for m, c in configs.items()} == {
        "resnet56": "benchmark",  # the benchmark-cifar10 column, shared
        "vgg16_bn_s2": "poolbench",
        "mobilenetv2_s4": "poolbench",
    }
    assert not any(c["standard"] for c in configs.values())
