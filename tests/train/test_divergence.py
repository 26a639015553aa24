"""A model whose loss or any logit is non-finite, in training or in eval mode, single or packed, is
*diverged* at that epoch: never a finished accuracy (a NaN model's argmax is a constant class)."""

from __future__ import annotations

import math

import pytest

from poolbench.runs import RunDir
from poolbench.train import Protocol, RunConfig
from poolbench.train.engine import train_run
from poolbench.train.packed import train_packed
from poolbench.train.resolve import resolve

# A pool that is fine in training and NaN in eval mode on a 1x1 map (mobilenetv2's last map on
# 32x32 inputs): the unbiased std of one value is 0/0. The old check read only the training loss.
EVAL_NAN_POOL = """
from poolbench.pools.base import GlobalPool


class EvalNanOn1x1(GlobalPool):
    def forward(self, x):
        if self.training:
            return x.mean((2, 3))
        flat = x.flatten(2)
        n = flat.shape[2]
        return (((flat - flat.mean(2, keepdim=True)) ** 2).sum(2) / (n - 1)).sqrt()  # unbiased std
"""
ONE_STEP = Protocol(epochs=2, batch_size=32, train_subset=32, test_subset=32)


@pytest.fixture
def eval_nan_pool(tmp_path):
    path = tmp_path / "evalnan.py"
    path.write_text(EVAL_NAN_POOL)
    return f"{path}:EvalNanOn1x1"


def _assert_diverged(result, epoch=1):
    assert result["status"] == "diverged", result
    assert result["diverged_at_epoch"] == epoch
    assert result["best_test_acc"] is None and result["final_test_acc"] is None
    assert "became nan" in result["error"] or "became inf" in result["error"]


def test_an_eval_only_nan_pool_on_a_1x1_map_is_diverged(tmp_path, eval_nan_pool):
    cfg = RunConfig(model="mobilenetv2", dataset="synthetic", pool_file=eval_nan_pool, protocol=ONE_STEP)
    said = []
    result = train_run(cfg, tmp_path / "runs", device="cpu", progress=False, log=said.append)
    _assert_diverged(result)
    assert "test loss" in result["error"]
    assert any("diverged" in s for s in said)
    assert RunDir(tmp_path / "runs", resolve(cfg).run_id).read_metrics() == []  # no epoch with an accuracy


@pytest.mark.slow  # trains a pack: 4-9 s on 2 cores
def test_an_eval_only_nan_member_of_a_pack_is_diverged_and_the_other_finishes(tmp_path, eval_nan_pool):
    cfgs = [
        RunConfig(model="mobilenetv2", dataset="synthetic", seed=0, protocol=ONE_STEP),
        RunConfig(model="mobilenetv2", dataset="synthetic", seed=1, pool_file=eval_nan_pool, protocol=ONE_STEP),
    ]
    said = []
    got = train_packed(cfgs, tmp_path, device="cpu", progress=False, log=said.append)
    assert not any("not packing" in s for s in said), said  # really trained as one packed network
    assert got[0]["status"] == "finished" and math.isfinite(got[0]["best_test_acc"])
    _assert_diverged(got[1])


@pytest.mark.slow  # trains: 4 s on 2 cores
def test_a_nan_validation_loss_is_diverged(tmp_path, eval_nan_pool):
    cfg = RunConfig(model="mobilenetv2", dataset="synthetic", pool_file=eval_nan_pool, protocol=ONE_STEP, val_split=100)
    _assert_diverged(train_run(cfg, tmp_path, device="cpu", progress=False))


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), 1e30])
def test_a_non_finite_or_huge_learning_rate_is_diverged(tmp_path, lr):
    # one training step: the step's own loss is finite (taken before the update), what it did to the
    # model shows only in eval mode
    cfg = RunConfig(
        model="resnet20",
        dataset="synthetic",
        protocol=Protocol(epochs=1, lr=lr, batch_size=32, train_subset=32, test_subset=32),
    )
    _assert_diverged(train_run(cfg, tmp_path, device="cpu", progress=False))


@pytest.mark.slow  # trains a pack: 2-4 s on 2 cores
@pytest.mark.parametrize("lr", [float("nan"), 1e30])
def test_a_non_finite_or_huge_learning_rate_is_diverged_when_packed(tmp_path, lr):
    proto = Protocol(epochs=1, lr=lr, batch_size=32, train_subset=32, test_subset=32)
    cfgs = [RunConfig(model="resnet20", dataset="synthetic", seed=s, protocol=proto) for s in (0, 1)]
    for r in train_packed(cfgs, tmp_path, device="cpu", progress=False, log=lambda s: None):
        _assert_diverged(r)


@pytest.mark.parametrize("proto", [Protocol(epochs=0), Protocol(epochs=-3), Protocol(batch_size=0)])
def test_a_protocol_no_run_can_train_is_refused_before_a_run_dir_exists(tmp_path, proto):
    cfg = RunConfig(model="resnet20", dataset="synthetic", protocol=proto)
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        train_run(cfg, tmp_path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        train_packed([cfg, cfg.replace(seed=1)], tmp_path, device="cpu", progress=False)
    assert not any(tmp_path.iterdir())
