"""The CSV logger: one row per epoch per run, equal to metrics.jsonl, never a row twice after a
resume, written atomically and never through a link."""

from __future__ import annotations

import csv

import pytest

from poolbench.fileio import UnsafeFileError
from poolbench.runs import RunDir
from poolbench.train import Protocol, RunConfig
from poolbench.train.callbacks import Callback, CsvLogger, EpochEnd, Member
from poolbench.train.engine import train_run
from poolbench.train.fit import RunInterrupted
from poolbench.train.resolve import resolve

TINY = Protocol(epochs=2, batch_size=16, train_subset=32, test_subset=32)
CFG = RunConfig(model="cnn4", dataset="synthetic", protocol=TINY)


pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(path) -> list[dict[str, float | None]]:
    """The CSV's rows as numbers (an empty cell: None), to compare with metrics.jsonl."""
    with open(path, newline="") as f:
        return [{k: float(v) if v != "" else None for k, v in row.items()} for row in csv.DictReader(f)]


def _rec(epoch: int) -> dict:
    return {"epoch": epoch, "lr": 0.1, "train_loss": 1 / 3, "test_acc": 12.5, "val_acc": None, "epoch_time_s": 0.25}


class InterruptAfterEpoch(Callback):
    """Ctrl-C right after epoch ``epoch`` was recorded (the callbacks before this one ran)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, member, end):
        if end.record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_the_csv_rows_equal_metrics_jsonl_and_a_resume_writes_no_row_twice(tmp_path):
    logger = CsvLogger(tmp_path / "csv")  # the same logger across the interrupt, as a library user keeps it
    quiet = {"device": "cpu", "progress": False, "log": lambda s: None}
    with pytest.raises(RunInterrupted):
        train_run(CFG, tmp_path / "runs", callbacks=[logger, InterruptAfterEpoch(1)], **quiet)
    assert [r["epoch"] for r in _rows(logger.path(resolve(CFG).run_id))] == [1]
    assert train_run(CFG, tmp_path / "runs", callbacks=[logger], **quiet)["status"] == "finished"
    metrics = RunDir(tmp_path / "runs", resolve(CFG).run_id).read_metrics()
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert _rows(logger.path(resolve(CFG).run_id)) == metrics  # every value, exactly; val_acc None both sides
    header = logger.path(resolve(CFG).run_id).read_text().splitlines()[0]
    assert sorted(header.split(",")) == sorted(metrics[0])


def test_a_resume_rewrites_the_file_from_the_checkpoints_history(tmp_path):
    """A row written after the last checkpoint (the kill came between them) is dropped, none repeated."""
    logger, me = CsvLogger(tmp_path), Member(0, CFG, resolve(CFG).run_id)
    logger.on_run_start(me, None, None)
    for e in (1, 2):
        logger.on_train_epoch_end(me, EpochEnd(_rec(e), {}, {}, 0.25, None))
    assert [r["epoch"] for r in _rows(logger.path(resolve(CFG).run_id))] == [1, 2]
    again = CsvLogger(tmp_path)  # a new process: the checkpoint saved epoch 1 only
    again.on_run_start(me, {"history": [_rec(1)], "wall_time_s": 1.0}, None)
    again.on_train_epoch_end(me, EpochEnd(_rec(2), {}, {}, 0.25, None))
    assert _rows(again.path(resolve(CFG).run_id)) == [_rec(1), _rec(2)]  # 1/3 too reads back exactly


def test_each_run_of_a_fit_gets_its_own_file(tmp_path):
    logger = CsvLogger(tmp_path)
    other = CFG.replace(seed=1)
    members = [Member(0, CFG, resolve(CFG).run_id), Member(1, other, resolve(other).run_id)]
    for m in members:
        logger.on_run_start(m, None, [resolve(CFG).run_id, resolve(other).run_id])
    logger.on_train_epoch_end(members[1], EpochEnd(_rec(1), {}, {}, 0.25, None))
    assert logger.path(resolve(CFG).run_id).read_text() == ""  # no epoch yet: no header either
    assert [r["epoch"] for r in _rows(logger.path(resolve(other).run_id))] == [1]


def test_a_link_in_place_of_the_file_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("mine")
    logger = CsvLogger(tmp_path / "csv")
    (tmp_path / "csv" / resolve(CFG).run_id).mkdir(parents=True)
    logger.path(resolve(CFG).run_id).symlink_to(target)
    with pytest.raises(UnsafeFileError, match="link"):
        logger.on_run_start(Member(0, CFG, resolve(CFG).run_id), None, None)
    assert target.read_text() == "mine"
