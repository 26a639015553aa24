"""The run recorder: what each hook leaves in the run directory and says, and the one result writer."""

from __future__ import annotations

import errno
import json
import typing

import pytest
import torch

from poolbench import runs
from poolbench.runs import RunDir, RunResult
from poolbench.train import Protocol, RunConfig
from poolbench.train.callbacks import EpochEnd, Member
from poolbench.train.config import CONFIG_SCHEMA
from poolbench.train.recorder import RunRecorder, write_result
from poolbench.train.resolve import resolve

CPU = torch.device("cpu")
# resolved with a given fingerprint: the recorder never reads data
CFG = resolve(
    RunConfig(
        model="resnet20",
        dataset="synthetic",
        protocol=Protocol(epochs=3, train_subset=32, test_subset=32),
        data_fingerprint="0123456789abcdef",
    )
)
ME = Member(0, CFG, CFG.run_id)


def _rec(epoch: int, test_acc: float) -> dict:
    return {"epoch": epoch, "lr": 0.1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": test_acc}


def _recorder(tmp_path, said=None, **kw) -> RunRecorder:
    return RunRecorder(CFG, tmp_path, CPU, (said if said is not None else []).append, **kw)


def _state(v: float) -> dict:
    return {"w": torch.full((2,), v)}


def test_on_run_start_writes_the_config_once_and_cleans_stale_temp_files(tmp_path):
    r = _recorder(tmp_path)
    r.run.path.mkdir()
    stale = r.run.path / ".checkpoint.pt.x1.tmp"
    stale.write_bytes(b"half")
    r.on_run_start(ME, None, None)
    config = json.loads(r.run.config.read_text())
    assert config["run_id"] == CFG.run_id and config["schema"] == CONFIG_SCHEMA and config["standard"] is False
    assert not stale.exists() and not r.run.metrics.exists() and not r.run.pack.exists()
    r.run.config.write_text('{"kept": true}')  # a restart keeps the record of the first start
    _recorder(tmp_path).on_run_start(ME, None, None)
    assert json.loads(r.run.config.read_text()) == {"kept": True}


def test_on_run_start_from_a_checkpoint_heals_the_metrics_and_says_resumed(tmp_path):
    said: list[str] = []
    r = _recorder(tmp_path, said)
    r.run.path.mkdir()
    r.run.metrics.write_text(json.dumps(_rec(1, 10.0)) + "\n")  # lagged the checkpoint at the kill
    r.on_run_start(ME, {"history": [_rec(1, 10.0), _rec(2, 20.0)], "wall_time_s": 4.0}, ["a", CFG.run_id])
    assert r.history == [_rec(1, 10.0), _rec(2, 20.0)] and r.wall == 4.0
    assert [m["epoch"] for m in r.run.read_metrics()] == [1, 2]
    assert json.loads(r.run.pack.read_text()) == {"packed_with": ["a", CFG.run_id], "k": 2}
    assert said == [f"{CFG.run_id}: resumed from epoch 2 (of 3); training epoch 3 next"]


def test_on_train_epoch_end_checkpoints_then_writes_metrics_then_says_the_line(tmp_path):
    said: list[str] = []
    r = _recorder(tmp_path, said, name_lines=True)
    r.on_run_start(ME, None, None)
    r.on_train_epoch_end(ME, EpochEnd({**_rec(1, 12.5), "epoch_time_s": 0.5}, _state(1.0), {"state": {}}, 0.5, ["x"]))
    ckpt = r.run.load_checkpoint()
    assert ckpt is not None and torch.equal(ckpt["model"]["w"], torch.ones(2))
    assert ckpt["history"] == r.history and ckpt["wall_time_s"] == 0.5 and ckpt["packed_with"] == ["x"]
    assert r.run.read_metrics() == r.history and not r.run.result.exists()
    assert len(said) == 1 and said[0].startswith(f"{CFG.run_id}: epoch   1/3") and "test 12.50" in said[0]
    plain = _recorder(tmp_path / "plain", said)
    plain.on_run_start(ME, None, None)
    plain.on_train_epoch_end(
        ME, EpochEnd({**_rec(1, 12.5), "epoch_time_s": 0.5}, _state(1.0), {"state": {}}, 0.5, None)
    )
    assert said[-1].startswith("epoch   1/3") and "packed_with" not in (plain.run.load_checkpoint() or {})


def test_on_diverged_writes_a_result_without_accuracies(tmp_path):
    said: list[str] = []
    r = _recorder(tmp_path, said)
    r.on_run_start(ME, None, None)
    r.on_train_epoch_end(ME, EpochEnd({**_rec(1, 30.0), "epoch_time_s": 1.0}, _state(1.0), {"state": {}}, 1.0, None))
    r.on_diverged(ME, 2, "training loss (or a training logit) became nan", 1.5)
    result = r.result
    assert result is not None and r.run.read_result() == result
    assert result["status"] == "diverged" and result["diverged_at_epoch"] == 2 and result["epochs_completed"] == 1
    assert result["best_test_acc"] is None and result["final_test_acc"] is None
    assert result["provenance"]["wall_time_s"] == 2.5
    assert said[-1] == f"{CFG.run_id}: training loss (or a training logit) became nan in epoch 2: diverged"
    assert r.run.checkpoint.exists()  # the last finite epoch stays


def test_on_run_finished_summarizes_the_history(tmp_path):
    r = _recorder(tmp_path)
    r.on_run_start(ME, None, None)
    for e, acc in ((1, 30.0), (2, 50.0), (3, 40.0)):
        r.on_train_epoch_end(ME, EpochEnd({**_rec(e, acc), "epoch_time_s": 1.0}, _state(e), {"state": {}}, 1.0, None))
    r.on_run_finished(ME)
    result = r.result
    assert (
        result is not None
        and r.run.read_result() == result
        and result["status"] == "finished"
        and result["error"] is None
    )
    assert (result["best_test_acc"], result["best_epoch"], result["final_test_acc"]) == (50.0, 2, 40.0)
    assert result["epochs_completed"] == 3 and r.run.is_done()


def test_on_exception_records_failed_and_a_full_disk_loses_nothing(tmp_path, monkeypatch):
    r = _recorder(tmp_path)
    r.on_run_start(ME, None, None)
    r.on_exception(ME, RuntimeError("boom"))
    result = r.run.read_result()
    assert result is not None and result["status"] == "failed" and result["error"] == "RuntimeError: boom"
    assert not r.run.is_done()  # a failed run is retried

    full = _recorder(tmp_path / "full")
    full.on_run_start(ME, None, None)

    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runs, "atomic_write_bytes", no_space)
    full.on_exception(ME, RuntimeError("boom"))  # does not raise: the original error is the news
    assert full.result is None and not full.run.result.exists()


def test_write_result_writes_exactly_the_run_result_schema(tmp_path):
    hints = typing.get_type_hints(RunResult)
    required, optional = RunResult.__required_keys__, RunResult.__optional_keys__
    run = RunDir(tmp_path, CFG.run_id)
    history = [{**_rec(1, 10.0), "val_acc": 20.0}, {**_rec(2, 30.0), "val_acc": 15.0}]
    finished = write_result(run, CFG, "finished", history, 3.0, CPU)
    assert set(hints) == required | optional and required <= set(finished) <= set(hints)
    assert set(finished) == set(hints)  # a finished run with a validation split fills every field
    assert finished["test_acc_at_best_val"] == 10.0 and finished["best_val_epoch"] == 1
    failed = write_result(run, CFG, "failed", history, None, CPU, error="E", device_name="unknown (worker lost)")
    assert set(failed) == required and failed["best_test_acc"] is None
    assert failed["provenance"]["device"] == "unknown (worker lost)" and failed["provenance"]["wall_time_s"] is None
    assert run.read_result() == failed


@pytest.mark.parametrize("status", ["finished", "diverged", "failed"])
def test_the_written_result_decides_whether_the_run_is_done(tmp_path, status):
    run = RunDir(tmp_path, CFG.run_id)
    write_result(run, CFG, status, [_rec(1, 10.0)], 1.0, CPU)
    assert run.is_done() == (status != "failed")


def test_config_json_records_the_pools_1x1_probe_without_moving_the_random_stream(tmp_path):
    from poolbench.train.recorder import config_record

    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    assert config_record(CFG)["pool_1x1"] == {"relation": "x", "same_as_identity": True}  # avg
    assert config_record(CFG.replace(pool="gated"))["pool_1x1"] is not None  # built with random weights
    assert torch.equal(torch.random.get_rng_state(), before)
    gem = config_record(CFG.replace(pool="gem"))["pool_1x1"]
    assert gem["same_as_identity"] and gem["relation"].startswith("max(x")
    pool = tmp_path / "identity_pool.py"  # a pool file: probed here, where training imports it anyway
    pool.write_text(
        "import torch.nn as nn\nclass CustomPool(nn.Module):\n"
        "    def forward(self, x):\n        return x.amax(dim=(2, 3))\n"
    )
    rec = config_record(resolve(CFG.replace(pool="file", pool_file=f"{pool}:CustomPool")))["pool_1x1"]
    assert rec == {"relation": "x", "same_as_identity": True}
    gone = CFG.replace(pool="file", pool_file=f"{tmp_path / 'gone.py'}:CustomPool", pool_file_sha="0123456789abcdef")
    assert config_record(gone)["pool_1x1"] is None
