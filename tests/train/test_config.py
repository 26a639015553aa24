"""RunConfig: weights files (fit-lda output) join the run id by content, not only by path."""

import pytest

from poolbench.models import list_models
from poolbench.train import Protocol, RunConfig
from poolbench.train.engine import train_run
from poolbench.train.packed import train_packed
from poolbench.train.resolve import check_unchanged, resolve


def lda_config(path, **kw):
    return RunConfig(
        model="resnet20",
        dataset="synthetic",
        pool="lda",
        pool_args={"weights": str(path)},
        protocol=Protocol(epochs=1),
        **kw,
    )


def test_runs_without_weight_files_keep_their_identity():
    c = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="gem"))
    assert c.weight_file_sha == {}
    assert "weight_file_sha" not in c.identity()


def test_refitting_into_the_same_path_gives_a_new_run_id(tmp_path):
    f = tmp_path / "lda_final.pt"
    f.write_bytes(b"first fit")
    first = resolve(lda_config(f))
    assert set(first.weight_file_sha) == {"pool_args.weights"}
    f.write_bytes(b"second fit")
    second = resolve(lda_config(f))
    assert first.pool_args == second.pool_args
    assert first.run_id != second.run_id


def test_a_surgery_weights_file_is_hashed_too_under_the_key_runs_always_used(tmp_path):
    from poolbench.train.surgery import entry

    f = tmp_path / "lda_2.pt"
    f.write_bytes(b"layer 2")
    c = resolve(
        RunConfig(model="resnet20", dataset="synthetic", surgery=(entry("lda_downsample", layer=2, weights=str(f)),))
    )
    assert set(c.weight_file_sha) == {"model_args.lda_weights"}


def test_stored_hash_survives_a_round_trip_and_a_changed_file_is_refused(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"fit A")
    c = resolve(lda_config(f))
    f.write_bytes(b"fit B")
    again = RunConfig.from_dict(c.to_dict())  # as when a run is resumed from its config.json
    assert again.run_id == c.run_id and resolve(again) == again  # resolved: the file is not read again
    with pytest.raises(ValueError, match="changed since this run was configured"):
        check_unchanged(again)
    with pytest.raises(ValueError, match="changed"):  # before any run directory is written
        train_run(again, tmp_path / "runs", device="cpu", progress=False)
    assert not (tmp_path / "runs" / c.run_id).exists()


def test_packed_training_refuses_a_changed_weights_file_too(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"fit A")
    configs = [resolve(lda_config(f, seed=0)), resolve(lda_config(f, seed=1))]
    f.write_bytes(b"fit B")
    with pytest.raises(ValueError, match="changed since this run was configured"):
        train_packed(configs, tmp_path / "runs", device="cpu", progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_missing_weights_file_names_the_fix(tmp_path):
    c = lda_config(tmp_path / "nowhere.pt")
    with pytest.raises(FileNotFoundError, match="fit-lda"):
        resolve(c)


def test_flex_and_sac_runs_carry_the_defaults_version_others_keep_their_ids():
    from poolbench.train.config import FLEX_SAC_VERSION

    gem = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="gem"))
    assert gem.flex_sac_version is None and "flex_sac_version" not in gem.identity()
    for cfg in (
        resolve(RunConfig(model="resnet20", dataset="synthetic", pool="flex")),
        resolve(RunConfig(model="resnet20", dataset="synthetic", pool="avg", sac={})),
    ):
        assert cfg.flex_sac_version == FLEX_SAC_VERSION == 2
        assert cfg.identity()["flex_sac_version"] == 2
        assert RunConfig.from_dict(cfg.to_dict()).run_id == cfg.run_id  # round trip keeps it


def test_a_run_made_under_the_old_flex_defaults_is_never_rebuilt_as_the_new_one(tmp_path):
    from poolbench.train import build
    from poolbench.train.label import pool_label

    new = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="flex", protocol=Protocol(epochs=1)))
    stored = new.to_dict()
    del stored["flex_sac_version"]  # what a config.json written before the version looks like
    old = RunConfig.from_dict(stored)
    assert old.flex_sac_version == 1 and old.run_id != new.run_id
    with pytest.raises(ValueError, match="version 1"):
        build.build_model(old, None)
    # and the tables keep the old runs out of today's flex cell
    assert pool_label(stored) == "flex [flex/sac defaults v1]" and pool_label(new.to_dict()) == "flex"
    assert pool_label({"pool": "avg", "sac": {}, "flex_sac_version": 2}) == "avg +sac"


def test_speed_switches_are_recorded_but_not_identity():
    base = resolve(RunConfig(model="resnet20", dataset="synthetic"))
    fast = base.replace(channels_last=True, compile=True, compile_mode="reduce-overhead")
    assert fast.run_id == base.run_id and fast.to_dict()["compile_mode"] == "reduce-overhead"


def test_an_unknown_compile_mode_is_refused_by_name():
    import torch.nn as nn

    from poolbench.train.build import compiled

    cfg = RunConfig(model="resnet20", dataset="synthetic", compile=True, compile_mode="fastest")
    with pytest.raises(ValueError, match="unknown compile mode 'fastest'"):
        compiled(nn.Linear(2, 2), cfg)
    lin = nn.Linear(2, 2)
    assert compiled(lin, cfg.replace(compile=False)) is lin


def test_resnet_runs_record_their_initialisation_and_new_ones_get_new_ids():
    from poolbench.train.config import RESNET_INIT_VERSION, RESNET_MODELS

    new = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="gem"))
    assert new.init_version == RESNET_INIT_VERSION == 2 and new.identity()["init_version"] == 2
    assert RunConfig.from_dict(new.to_dict()).run_id == new.run_id  # a round trip keeps it
    stored = new.to_dict()
    del stored["init_version"]  # a config.json written before the version: the old initialisation
    old = RunConfig.from_dict(stored)
    assert old.init_version == 1 and "init_version" not in old.identity() and old.run_id != new.run_id
    assert RunConfig.from_dict(old.to_dict()).run_id == old.run_id  # 1 stays 1 once written down
    cnn = resolve(RunConfig(model="cnn4", dataset="synthetic"))
    assert cnn.init_version is None and "init_version" not in cnn.identity()
    assert RunConfig.from_dict({**cnn.to_dict(), "init_version": None}).init_version is None
    assert set(RESNET_MODELS) == {m for m in list_models() if m.startswith("resnet")}


def test_a_run_is_rebuilt_with_the_initialisation_it_was_made_with():
    import types

    from poolbench.train import build

    data = types.SimpleNamespace(num_classes=10, in_chans=3)
    new = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="avg", protocol=Protocol(epochs=1)))
    stored = new.to_dict()
    del stored["init_version"]
    fan_in, fan_out = (2 / 27) ** 0.5, (2 / 144) ** 0.5  # the 3 -> 16 stem conv's two Kaiming stds
    for config, want in ((new, fan_in), (RunConfig.from_dict(stored), fan_out)):
        std = float(build.build_model(config, data).stem[0].weight.detach().std())
        assert abs(std / want - 1) < 0.15, (config.init_version, std, want)
    with pytest.raises(ValueError, match="initialisation version 7; this poolbench knows versions 1, 2"):
        build.build_model(RunConfig.from_dict({**new.to_dict(), "init_version": 7}), data)


# ----------------------------------------------------------------------------- identity, component by component
FIXED_DATA = "0123456789abcdef"  # a given fingerprint: these tests never read data


def _fixed_data_config(**kw) -> RunConfig:
    kw.setdefault("protocol", Protocol(epochs=1))
    kw.setdefault("data_fingerprint", FIXED_DATA)
    return resolve(RunConfig(model="resnet20", dataset="synthetic", **kw))  # the files and versions only


def test_an_edited_pool_file_at_the_same_path_is_another_run(tmp_path):
    f = tmp_path / "my_pool.py"
    f.write_text("import torch.nn as nn\n\nclass CustomPool(nn.Module):\n    pass\n")
    spec = f"{f}:CustomPool"
    before = _fixed_data_config(pool="file", pool_file=spec)
    f.write_text("import torch.nn as nn\n\nclass CustomPool(nn.Module):\n    scale = 2\n")
    after = _fixed_data_config(pool="file", pool_file=spec)
    assert before.pool_file == after.pool_file and before.pool_file_sha != after.pool_file_sha
    assert before.run_id != after.run_id


# One changed value per Protocol field; every field must be listed, so a new field is tested too.
PROTOCOL_CHANGES = {
    "epochs": 2,
    "batch_size": 64,
    "lr": 0.05,
    "momentum": 0.8,
    "weight_decay": 1e-4,
    "train_subset": 100,
    "test_subset": 100,
    "version": "other",
    "optimizer": "adam",
    "schedule": "constant",
    "milestones": (1,),
    "augment": "none",
    "input_norm": "image",
    "preset": "some-preset",
}


def test_every_protocol_field_has_a_changed_value_below():
    import dataclasses

    assert set(PROTOCOL_CHANGES) == {f.name for f in dataclasses.fields(Protocol)}


@pytest.mark.parametrize("field", sorted(PROTOCOL_CHANGES))
def test_each_protocol_field_changes_the_run_id(field):
    import dataclasses

    base = Protocol(epochs=1)
    changed = dataclasses.replace(base, **{field: PROTOCOL_CHANGES[field]})
    assert getattr(changed, field) != getattr(base, field)
    assert _fixed_data_config(protocol=changed).run_id != _fixed_data_config(protocol=base).run_id


def test_the_data_fingerprint_changes_the_run_id():
    assert _fixed_data_config().run_id != _fixed_data_config(data_fingerprint="fedcba9876543210").run_id


# ----------------------------------------------------------------------------- a pure value
def test_a_config_is_made_copied_and_serialised_without_reading_anything(tmp_path, monkeypatch):
    from poolbench.train.surgery import entry

    from .no_io import recording_io

    pool, weights = tmp_path / "my_pool.py", tmp_path / "lda.pt"
    pool.write_text("x = 1\n")
    weights.write_bytes(b"a fit")
    with recording_io(monkeypatch) as calls:
        cold = RunConfig(model="resnet20", dataset="cifar10", data_dir="/nonexistent")
        copy = cold.replace(seed=1, data_dir="/elsewhere", channels_last=True)
        with_files = cold.replace(
            pool="file",
            pool_file=f"{pool}:CustomPool",
            surgery=(entry("lda_downsample", layer=2, weights=str(weights)),),
        )
        again = RunConfig.from_dict(with_files.to_dict())
    assert calls == []
    assert (cold.init_version, cold.data_fingerprint, with_files.pool_file_sha, again.weight_file_sha) == (
        None,
        None,
        None,
        {},
    )
    assert copy.seed == 1 and again == with_files


def test_an_unresolved_config_refuses_its_run_id_in_one_line_and_reads_nothing(monkeypatch):
    from poolbench.train.config import UnresolvedConfigError

    from .no_io import recording_io

    cold = RunConfig(model="resnet20", dataset="cifar10", data_dir="/nonexistent")
    with recording_io(monkeypatch) as calls:
        with pytest.raises(UnresolvedConfigError) as refused:
            _ = cold.run_id
        with pytest.raises(UnresolvedConfigError):
            cold.identity()
    assert calls == []
    message = str(refused.value)
    assert isinstance(refused.value, ValueError) and "\n" not in message
    assert "data_fingerprint" in message and "init_version" in message
    assert message.endswith("call poolbench.train.resolve.resolve(config) first")


def test_the_schema1_identity_needs_no_data_fingerprint(monkeypatch):
    from .no_io import recording_io

    stored = RunConfig(model="resnet20", dataset="cifar10", init_version=1)  # as a schema-1 config.json reads
    with recording_io(monkeypatch) as calls:
        old_id = stored.run_id_for(schema=1)
    assert calls == [] and old_id.startswith("resnet20-cifar10-avg-s0-")


def test_replace_drops_only_what_the_change_makes_stale():
    from poolbench.train.surgery import entry

    c = RunConfig(
        model="resnet20",
        dataset="synthetic",
        pool="file",
        pool_file="/p/a.py:CustomPool",
        pool_file_sha="a" * 16,
        surgery=(entry("lda_downsample", layer=2, weights="/w/1.pt"),),
        weight_file_sha={"model_args.lda_weights": "b" * 16},
        init_version=2,
        data_fingerprint="c" * 16,
        data_label="synthetic",
    )
    same = c.replace(seed=3, channels_last=True, protocol=Protocol(epochs=3))
    assert (same.pool_file_sha, same.weight_file_sha, same.data_fingerprint) == (
        c.pool_file_sha,
        c.weight_file_sha,
        c.data_fingerprint,
    )
    data = c.replace(protocol=Protocol(test_subset=10))
    assert (data.data_fingerprint, data.data_label, data.pool_file_sha) == (None, None, c.pool_file_sha)
    assert c.replace(pool_file="/p/b.py:CustomPool").pool_file_sha is None
    assert c.replace(surgery=(entry("lda_downsample", layer=2, weights="/w/2.pt"),)).weight_file_sha == {}
    assert c.replace(data_dir="/d", data_fingerprint="d" * 16).data_fingerprint == "d" * 16  # given: kept
