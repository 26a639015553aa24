"""Surgery and the pool regulariser are their own fields, and a run's id is hashed in the layout
runs always recorded them in, so a config.json written before keeps its id and reads back into the
fields."""

from __future__ import annotations

import json
from pathlib import Path

from poolbench.train import RunConfig
from poolbench.train.resolve import resolve
from poolbench.train.stored_layout import declared_layout, identity_layout
from poolbench.train.surgery import entry

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
FP = {"data_fingerprint": "0123456789abcdef"}  # a fixed fingerprint: the id needs no data


def _birodkar_config() -> dict:
    paths = sorted(EXPERIMENTS.glob("birodkar2019-cpu/runs/*/config.json"))
    raw = [json.loads(p.read_text()) for p in paths]
    return next(r for r in raw if "lda_layer" in r["model_args"])


def test_a_stored_config_with_lda_in_model_args_reads_as_a_surgery_entry_and_keeps_its_id():
    raw = _birodkar_config()
    config = RunConfig.from_dict(raw)
    (lda,) = config.surgery
    assert lda == entry(
        "lda_downsample", layer=raw["model_args"]["lda_layer"], weights=raw["model_args"]["lda_weights"]
    )
    assert "lda_layer" not in config.model_args and "lda_weights" not in config.model_args
    assert config.run_id == raw["run_id"]
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))  # written in today's layout
    assert again == config and again.run_id == raw["run_id"]


def test_the_same_run_asked_for_with_the_new_fields_gets_the_id_the_old_layout_gave():
    old = RunConfig(model="cnn4", dataset="synthetic", model_args={"width": 16, "sgd_pool_layer": 2}, **FP)
    new = RunConfig(
        model="cnn4", dataset="synthetic", model_args={"width": 16}, surgery=(entry("sgd_downsample", layer=2),), **FP
    )
    assert identity_layout(new.to_dict())["model_args"] == old.model_args
    assert new.run_id == old.run_id


def test_a_regulariser_without_sac_is_not_sac_and_keeps_the_old_id():
    stored = {"stages": [], "weights": [1.0], "pool_reg": 1e-3}
    old = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="flex", sac=stored, **FP))  # the old layout
    read = RunConfig.from_dict(old.to_dict())
    assert read.sac is None and read.pool_reg == 1e-3
    assert read.run_id == old.run_id
    with_heads = declared_layout({"sac": {"stages": [1, 2], "weights": [0.1, 0.2, 0.7], "pool_reg": 1e-3}})
    assert with_heads["sac"] == {"stages": [1, 2], "weights": [0.1, 0.2, 0.7]} and with_heads["pool_reg"] == 1e-3


def test_surgery_old_runs_could_not_express_is_hashed_as_declared():
    lda, sgd = entry("lda_downsample", layer=1, weights="a.pt"), entry("sgd_downsample", layer=2)
    assert "surgery" not in identity_layout({"surgery": [lda, sgd], "model_args": {}})
    reordered = identity_layout({"surgery": [sgd, lda], "model_args": {}})  # applied in another order
    assert reordered["surgery"] == [sgd, lda] and reordered["model_args"] == {}
