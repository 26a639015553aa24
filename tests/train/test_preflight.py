"""The run's pre-check refuses what this run meets (its models' map sizes, its dtype), warns in one
line about the benchmark's columns it does not meet, and ``check`` / ``harness`` flag a pool class
the benchmark's scaffold (``CustomPool()``, no arguments) cannot build."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import poolbench.executors.base as executors_base
import poolbench.train.engine as engine
from poolbench.cli import main
from poolbench.pools.check import check_scaffold
from poolbench.pools.loader import load_pool_file
from poolbench.train import Protocol, RunConfig
from poolbench.train.config import pool_fields
from poolbench.train.preflight import benchmark_hazards, contract_check, run_map_sizes

EX = Path(__file__).resolve().parents[2] / "examples"
BROKEN = str(EX / "broken_std_pool.py")  # the unbiased std over positions: NaN on 1x1 maps only
TINY = Protocol(epochs=1, train_subset=32, test_subset=32)


def config(model: str, pool: str = BROKEN, **kw) -> RunConfig:
    return RunConfig(model=model, dataset="synthetic", protocol=TINY, **pool_fields(pool), **kw)


class NaNUnderAutocast(nn.Module):
    """Fine in fp32, NaN under bf16 autocast: a hazard only for a bf16 run."""

    def forward(self, x):
        y = x.mean((2, 3))
        return y * math.nan if torch.is_autocast_enabled("cpu") else y


@pytest.mark.filterwarnings("ignore:std")
def test_a_pool_nan_only_on_1x1_maps_passes_for_resnet20_and_fails_for_mobilenetv2():
    ok = contract_check(config("resnet20"))
    assert ok.passed and "on resnet20 (C=64, 8x8 map, fp32)" in ok.target
    bad = contract_check(config("mobilenetv2"))
    assert not bad.passed and "1x1 map" in bad.target and bad.failing_maps() == {"1x1"}


def test_the_bf16_row_counts_only_for_a_bf16_run():
    fp32 = RunConfig(model="resnet20", dataset="synthetic", protocol=TINY)
    bf16 = RunConfig(model="resnet20", dataset="synthetic", protocol=TINY, amp="bf16")
    import poolbench.train.preflight as preflight

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(preflight, "pool_target", lambda cfg: NaNUnderAutocast)
        assert contract_check(fp32).passed
        report = contract_check(bf16)
        assert not report.passed and [r.name for r in report.failures(fatal_only=True)] == ["bf16 autocast"]


def test_run_map_sizes_include_the_sac_heads_stages():
    assert run_map_sizes(config("resnet20")) == ((8, 8),)
    assert run_map_sizes(config("resnet20", sac={"stages": [1, 2]})) == ((8, 8), (32, 32), (16, 16))
    assert run_map_sizes(config("vgg16_bn_s2")) == ((2, 2),)


@pytest.mark.filterwarnings("ignore:std")
def test_benchmark_hazards_name_the_columns_this_run_does_not_meet():
    hazards = benchmark_hazards(config("resnet20"), {"resnet20"})
    assert [column for column, _ in hazards] == [
        "vgg16_bn/cifar100 (1x1 map)",
        "mobilenetv2/fashion_mnist (1x1 map)",
    ]
    assert all("NaN output on 1x1 map" in why for _, why in hazards)
    assert benchmark_hazards(config("resnet20", pool="avg"), {"resnet20"}) == []


class OnlyFor64Channels(nn.Module):
    """Built for one width, as fitted LDA weights are: any other width is a ValueError."""

    def __init__(self, channels: int):
        super().__init__()
        if channels != 64:
            raise ValueError(f"fitted on 64 channels, this layer has {channels}")

    def forward(self, x):
        return x.mean((2, 3))


def test_a_pool_built_for_this_runs_width_only_is_a_warning_about_the_other_columns(monkeypatch):
    import poolbench.train.preflight as preflight

    monkeypatch.setattr(preflight, "pool_target", lambda cfg: OnlyFor64Channels)
    assert contract_check(config("resnet20")).passed
    hazards = benchmark_hazards(config("resnet20"), {"resnet20"})
    assert [column for column, _ in hazards] == ["vgg16_bn/cifar100 (1x1 map)", "mobilenetv2/fashion_mnist (1x1 map)"]
    assert all("cannot be built: fitted on 64 channels, this layer has" in why for _, why in hazards)


@pytest.mark.filterwarnings("ignore:std")
def test_run_resnet20_accepts_the_1x1_only_nan_pool_with_a_warning_naming_the_columns(tmp_path, capsys, monkeypatch):
    trained = []

    def fake_train_run(cfg, runs_dir, **kw):
        trained.append(cfg.model)
        return {"status": "finished", "best_test_acc": 50.0, "best_epoch": 1, "final_test_acc": 50.0}

    monkeypatch.setattr(executors_base, "train_run", fake_train_run)  # run trains through the executors
    argv = ["run", "--model", "resnet20", "--dataset", "synthetic", "--pool-file", BROKEN, "--seeds", "0"]
    argv += ["--epochs", "1", "--train-subset", "32", "--test-subset", "32", "--no-progress"]
    assert main(argv + ["--runs-dir", str(tmp_path)]) == 0 and trained == ["resnet20"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "vgg16_bn/cifar100 (1x1 map), mobilenetv2/fashion_mnist (1x1 map) columns" in warnings[0]


# Per-channel weights sized in __init__: poolbench passes channels=C, the benchmark's scaffold does not.
NEEDS_CHANNELS_FILE = """
import torch
import torch.nn as nn


class CustomPool(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.w = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return self.w * x.mean((2, 3))
"""


@pytest.fixture
def needs_channels(tmp_path) -> Path:
    pool = tmp_path / "needs_channels.py"
    pool.write_text(NEEDS_CHANNELS_FILE)
    return pool


def test_check_scaffold_flags_a_pool_that_needs_arguments(needs_channels):
    assert check_scaffold(nn.Identity).ok  # no arguments needed
    row = check_scaffold(load_pool_file(str(needs_channels)))
    assert not row.ok and not row.fatal and "CustomPool() raises TypeError" in row.detail


def test_check_and_harness_flag_a_pool_file_the_scaffold_cannot_build(needs_channels, tmp_path, capsys, monkeypatch):
    pool = needs_channels
    assert main(["check", str(pool), "--no-compile", "--no-onnx", "--channels", "64"]) == 0  # poolbench can build it
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("benchmark scaffold"))
    assert "warn" in row and "CustomPool() raises TypeError" in row

    monkeypatch.setattr(engine, "train_run", lambda *a, **k: pytest.fail("the harness trained a pool it cannot build"))
    argv = ["harness", str(pool), "--arch", "resnet20", "--dataset", "synthetic", "--epochs", "1"]
    assert main(argv + ["--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scaffold builds its pool with no arguments" in err[0] and "--no-check" in err[0]


def test_preflight_names_each_problem_by_its_field_and_train_run_refuses_before_a_run_dir(tmp_path):
    from poolbench.build_error import BuildError
    from poolbench.train.engine import train_run
    from poolbench.train.preflight import preflight

    base = RunConfig(model="resnet20", dataset="synthetic", protocol=TINY)
    assert preflight(base) == []
    cases = {
        "pool_reg": base.replace(pool_reg=1.0),  # avg has no regulariser
        "sac.stages": base.replace(sac={"stages": [7]}),
        "model_args.nosuch": base.replace(model_args={"nosuch": 1}),
        "pool_args.nosuch": base.replace(pool="gem", pool_args={"nosuch": 1}),
        "surgery.sgd_downsample.layer": base.replace(surgery=({"name": "sgd_downsample", "args": {"layer": 9}},)),
        "pool": base.replace(pool="nosuch"),
    }
    for field, config in cases.items():
        assert [p.field for p in preflight(config)] == [field], field
    for field in ("pool_reg", "model_args.nosuch"):  # the second is named so by preflight only, not the build
        with pytest.raises(BuildError) as err:
            train_run(cases[field], tmp_path, device="cpu", progress=False)
        assert err.value.field == field and not any(tmp_path.iterdir())


def test_a_regulariser_alone_is_applied_in_the_training_loss_without_auxiliary_heads():
    from poolbench.models.aux import SACModel
    from poolbench.train.build import build_model

    class Data:
        num_classes, in_chans = 10, 3

    config = RunConfig(model="resnet20", dataset="synthetic", pool="flex", pool_args={"weighting": "raw"}, pool_reg=0.5)
    model = build_model(config, Data())
    assert isinstance(model, SACModel) and len(model.aux_heads) == 0 and model.pool_reg == 0.5
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    loss, logits = model.training_loss(x, y, torch.nn.functional.cross_entropy)
    penalty = (model.pool.logits.float().flatten(1).sum(dim=1) - 1.0).pow(2).sum()  # the paper's Eq. 2
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, y) + 0.5 * penalty)


def test_a_surgery_argument_given_as_a_model_argument_says_where_it_goes_now():
    from poolbench.train.preflight import preflight

    (problem,) = preflight(RunConfig(model="resnet20", dataset="synthetic", model_args={"lda_layer": 2}))
    assert problem.field == "model_args.lda_layer" and "drop_rate" in problem.fix
    assert "lda_layer is the lda_downsample surgery's layer" in problem.fix
