"""A pack interrupted after epoch 1 resumes to the state of the uninterrupted pack, bit for bit:
each member's weights, momentum buffers and metrics (random models: a stochastic pool and dropout,
so each member's per-epoch reseed matters too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from poolbench.runs import RunDir
from poolbench.train import Protocol, RunConfig
from poolbench.train.fit import RunInterrupted
from poolbench.train.packed import train_packed
from poolbench.train.recorder import RunRecorder
from poolbench.train.resolve import resolve
from tests.train.folders import write_folder

TINY = Protocol(epochs=3, batch_size=16)


@pytest.fixture(scope="module")
def random_pack(tmp_path_factory):
    """Two cnn4 (width 4) runs with a stochastic pool and dropout 0.5, 3 classes x 16 train images.
    One intra-op thread: the same reduction order in every run of the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = write_folder(tmp_path_factory.mktemp("images"), ["a", "b", "c"], n_train=16, n_test=4)
    yield [
        RunConfig(
            model="cnn4",
            dataset="imagefolder",
            data_path=str(folder),
            pool="stochastic",
            seed=seed,
            protocol=TINY,
            model_args={"width": 4, "drop_rate": 0.5},
        )
        for seed in (3, 4)
    ]
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def uninterrupted_pack(random_pack, tmp_path_factory):
    runs = tmp_path_factory.mktemp("pack-ref")
    results = train_packed(random_pack, runs, device="cpu", progress=False, log=lambda s: None)
    assert [r["status"] for r in results] == ["finished", "finished"]
    assert all((runs / resolve(c).run_id / "pack.json").is_file() for c in random_pack)  # trained as one pack
    return runs


def _metrics(run_dir: Path) -> list[dict]:
    """Per-epoch metrics without wall-clock times."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in rec.items() if "time" not in k} for rec in lines]


def test_a_pack_interrupted_after_epoch_one_resumes_bit_for_bit(random_pack, uninterrupted_pack, tmp_path, monkeypatch):
    record_epoch = RunRecorder.on_train_epoch_end
    last = resolve(random_pack[-1]).run_id

    def interrupt_after_epoch_one(self, member, end):
        record_epoch(self, member, end)  # every member's epoch 1 is saved, then Ctrl-C arrives
        if end.record["epoch"] == 1 and self.run_id == last:
            raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(RunRecorder, "on_train_epoch_end", interrupt_after_epoch_one)
        with pytest.raises(RunInterrupted):
            train_packed(random_pack, tmp_path, device="cpu", progress=False, log=lambda s: None)
    assert [len(_metrics(tmp_path / resolve(c).run_id)) for c in random_pack] == [1, 1]

    results = train_packed(random_pack, tmp_path, device="cpu", progress=False, log=lambda s: None)
    assert [r["status"] for r in results] == ["finished", "finished"]
    for c in random_pack:
        assert _metrics(tmp_path / resolve(c).run_id) == _metrics(uninterrupted_pack / resolve(c).run_id), c.seed
        got, want = (
            RunDir(tmp_path, resolve(c).run_id).load_checkpoint(),
            RunDir(uninterrupted_pack, resolve(c).run_id).load_checkpoint(),
        )
        assert got is not None and want is not None
        assert got["model"].keys() == want["model"].keys()
        for name in want["model"]:
            assert torch.equal(got["model"][name], want["model"][name]), (c.seed, name)
        for pid, ref in want["optimizer"]["state"].items():
            assert torch.equal(got["optimizer"]["state"][pid]["momentum_buffer"], ref["momentum_buffer"]), (c.seed, pid)
