"""The fit loop tells every callback of its list every hook, in order: for one run, and for a pack
in which a member diverges (its hooks end at ``on_diverged``, the other's go on to the end)."""

from __future__ import annotations

import pytest

from poolbench.runs import RunDir
from poolbench.train import Protocol, RunConfig
from poolbench.train.callbacks import Callback
from poolbench.train.engine import train_run
from poolbench.train.packed import train_packed
from poolbench.train.resolve import resolve

TINY = Protocol(epochs=2, batch_size=16, train_subset=32, test_subset=32)  # 2 steps per epoch

# A pool file that is fine for two training steps, then NaN: its member diverges in epoch 2.
NAN_AFTER_TWO_STEPS = """
from poolbench.pools.base import GlobalPool


class NanAfterTwoSteps(GlobalPool):
    def __init__(self, **kw):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = x.mean((2, 3))
        return out * float("nan") if self.calls > 2 else out
"""


pytestmark = pytest.mark.usefixtures("one_thread")


class HookLog(Callback):
    """Writes down every hook it is told, with the run it concerns."""

    def __init__(self):
        self.seen: list[tuple] = []

    def on_fit_start(self, fit):
        self.seen.append(("fit_start", fit.start_epoch, fit.epochs, [m.run_id for m in fit.members]))

    def on_run_start(self, member, checkpoint, packed_with):
        self.seen.append(("run_start", member.run_id, checkpoint is None, packed_with))

    def on_epoch_start(self, epoch):
        self.seen.append(("epoch_start", epoch))

    def on_train_batch_end(self, step):
        self.seen.append(("batch_end", step))

    def on_train_epoch_end(self, member, end):
        assert set(end.model_state) and "state" in end.optimizer_state and end.seconds > 0
        self.seen.append(("train_epoch_end", member.run_id, end.record["epoch"]))

    def on_diverged(self, member, epoch, why, seconds):
        self.seen.append(("diverged", member.run_id, epoch, "became nan" in why))

    def on_epoch_end(self, epoch):
        self.seen.append(("epoch_end", epoch))

    def on_run_finished(self, member):
        self.seen.append(("run_finished", member.run_id))

    def on_exception(self, member, exc):
        self.seen.append(("exception", member.run_id, type(exc).__name__))

    def on_fit_end(self):
        self.seen.append(("fit_end",))


def test_a_user_callback_sees_every_hook_of_a_run_in_order(tmp_path):
    cfg = RunConfig(model="cnn4", dataset="synthetic", protocol=TINY)
    log = HookLog()
    assert (
        train_run(cfg, tmp_path, device="cpu", progress=False, log=lambda s: None, callbacks=[log])["status"]
        == "finished"
    )
    rid = resolve(cfg).run_id
    epoch = [("batch_end", 1), ("batch_end", 2)]
    assert log.seen == [
        ("fit_start", 0, 2, [rid]),
        ("run_start", rid, True, None),
        ("epoch_start", 1),
        *epoch,
        ("train_epoch_end", rid, 1),
        ("epoch_end", 1),
        ("epoch_start", 2),
        *epoch,
        ("train_epoch_end", rid, 2),
        ("epoch_end", 2),
        ("run_finished", rid),
        ("fit_end",),
    ]


def test_a_pack_whose_member_diverges_tells_each_hook_to_the_right_members(tmp_path):
    (tmp_path / "nanpool.py").write_text(NAN_AFTER_TWO_STEPS)
    cfgs = [
        RunConfig(model="cnn4", dataset="synthetic", seed=0, protocol=TINY),
        RunConfig(
            model="cnn4",
            dataset="synthetic",
            seed=1,
            protocol=TINY,
            pool_file=f"{tmp_path}/nanpool.py:NanAfterTwoSteps",
        ),
    ]
    said: list[str] = []
    log = HookLog()
    got = train_packed(cfgs, tmp_path / "runs", device="cpu", progress=False, log=said.append, callbacks=[log])
    assert not any("not packing" in s for s in said), said  # trained as one packed network
    assert [g["status"] for g in got] == ["finished", "diverged"]
    a, b = (resolve(c).run_id for c in cfgs)
    epoch = [("batch_end", 1), ("batch_end", 2)]
    assert log.seen == [
        ("fit_start", 0, 2, [a, b]),
        ("run_start", a, True, [a, b]),
        ("run_start", b, True, [a, b]),
        ("epoch_start", 1),
        *epoch,
        ("train_epoch_end", a, 1),
        ("train_epoch_end", b, 1),
        ("epoch_end", 1),
        ("epoch_start", 2),
        *epoch,
        ("diverged", b, 2, True),
        ("train_epoch_end", a, 2),
        ("epoch_end", 2),
        ("run_finished", a),
        ("fit_end",),
    ]
    # each run's recorder was told its own member's hooks only
    assert [m["epoch"] for m in RunDir(tmp_path / "runs", a).read_metrics()] == [1, 2]
    assert [m["epoch"] for m in RunDir(tmp_path / "runs", b).read_metrics()] == [1]


def test_a_crash_is_told_to_every_live_member_then_raised(tmp_path):
    cfg = RunConfig(model="cnn4", dataset="synthetic", protocol=TINY)

    class CrashInEpochTwo(Callback):
        def on_epoch_start(self, epoch):
            if epoch == 2:
                raise RuntimeError("boom")

    log = HookLog()
    with pytest.raises(RuntimeError, match="boom"):
        train_run(cfg, tmp_path, device="cpu", progress=False, log=lambda s: None, callbacks=[CrashInEpochTwo(), log])
    assert log.seen[-3:] == [("epoch_end", 1), ("exception", resolve(cfg).run_id, "RuntimeError"), ("fit_end",)]
    result = RunDir(tmp_path, resolve(cfg).run_id).read_result()
    assert result is not None and result["status"] == "failed" and result["epochs_completed"] == 1


def test_the_progress_output_still_projects_the_wall_time_and_says_each_epoch(tmp_path):
    cfg = RunConfig(
        model="cnn4", dataset="synthetic", protocol=Protocol(epochs=2, batch_size=16, train_subset=96, test_subset=32)
    )
    said: list[str] = []
    train_run(cfg, tmp_path, device="cpu", progress=False, log=said.append)
    assert len(said) == 4, said
    assert said[0].startswith(f"{resolve(cfg).run_id}: projected ") and "6 steps/epoch, from 3 timed steps" in said[0]
    assert said[1].startswith("epoch   1/2 lr 0.1000")
    assert said[2].startswith(f"{resolve(cfg).run_id}: projected ") and "for the 1 epochs left" in said[2]
    assert said[3].startswith("epoch   2/2 lr 0.0500")
