"""Schema-1 run directories (no data fingerprint) are migrated to the current run id, checked first."""

import json

import pytest

from poolbench.train import Protocol, RunConfig
from poolbench.train.migrate import main, migrate_run
from poolbench.train.resolve import resolve


def write_schema1(runs_dir, seed=0, tamper=False):
    c = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="gem", seed=seed, protocol=Protocol(epochs=1)))
    old_id = c.run_id_for(schema=1)
    d = c.to_dict()
    d.pop("data_fingerprint")
    d.pop("data_label")
    if tamper:
        d["seed"] = seed + 100  # the config no longer describes the run its id names
    d.update(run_id=old_id, protocol_label=c.protocol_label(), standard=False)
    run = runs_dir / old_id
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(d))
    (run / "result.json").write_text(json.dumps({"status": "finished", "run_id": old_id, "best_test_acc": 50.0}))
    return c, old_id


def test_a_schema1_run_gets_the_current_id_and_keeps_its_result(tmp_path):
    c, old_id = write_schema1(tmp_path)
    assert old_id != c.run_id
    assert migrate_run(tmp_path / old_id) == ("migrated", c.run_id)
    cfg = json.loads((tmp_path / c.run_id / "config.json").read_text())
    assert cfg["schema"] == 2 and cfg["data_fingerprint"] == c.data_fingerprint and cfg["migrated_from"] == old_id
    assert json.loads((tmp_path / c.run_id / "result.json").read_text())["run_id"] == c.run_id
    assert not (tmp_path / old_id).exists()
    assert migrate_run(tmp_path / c.run_id)[0] == "current"


def test_a_config_that_does_not_give_back_its_id_is_refused_and_left_alone(tmp_path, capsys):
    _, old_id = write_schema1(tmp_path, tamper=True)
    assert main([str(tmp_path)]) == 1
    assert "refused" in capsys.readouterr().out
    assert (tmp_path / old_id / "config.json").exists()


def snapshot(root):
    """Every file under ``root`` (outside it too, for ``root``'s parent) with its bytes."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_run_id_is_a_directory_name_whatever_the_config_says():
    from poolbench.runs import is_run_id

    for pool in ("x/../../y", "..", "a\\b", "\x00", "p" * 500):
        c = RunConfig(model="../m", dataset="d/../..", pool=pool, seed=0, protocol=Protocol(epochs=1))
        assert is_run_id(c.run_id_for(schema=1)), c.run_id_for(schema=1)
    a = RunConfig(
        model="resnet20", dataset="synthetic", pool="x/y", seed=0, protocol=Protocol(epochs=1), init_version=2
    )
    b = RunConfig(
        model="resnet20", dataset="synthetic", pool="x.y", seed=0, protocol=Protocol(epochs=1), init_version=2
    )
    assert a.run_id_for(schema=1) != b.run_id_for(schema=1)  # the same text, told apart by the digest


def test_a_pool_name_with_dot_dots_is_migrated_inside_its_runs_directory(tmp_path):
    runs = tmp_path / "a" / "b" / "runs"
    c = RunConfig(model="resnet20", dataset="synthetic", pool="x/../../../escaped", seed=0, protocol=Protocol(epochs=1))
    c = resolve(c)
    old_id = c.run_id_for(schema=1)
    d = c.to_dict()
    d.pop("data_fingerprint")
    d.pop("data_label")
    (runs / old_id).mkdir(parents=True)
    (runs / old_id / "config.json").write_text(json.dumps(d | {"run_id": old_id}))
    assert main([str(runs)]) == 0
    assert [p.name for p in runs.iterdir()] == [c.run_id] and "/" not in c.run_id
    assert {p.parent for p in tmp_path.rglob("config.json")} == {runs / c.run_id}


def test_a_target_outside_the_runs_directory_is_refused_and_nothing_moves(tmp_path, monkeypatch, capsys):
    _, old_id = write_schema1(tmp_path / "runs")
    monkeypatch.setattr(RunConfig, "run_id", property(lambda self: "../escaped"))
    before = snapshot(tmp_path)
    assert main([str(tmp_path / "runs")]) == 1
    assert "refused" in capsys.readouterr().out
    assert snapshot(tmp_path) == before and not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    "damage",
    [
        ("config.json", b"{garbage"),
        ("config.json", b'{"model": "resnet20", "protocol": 3}'),
        ("config.json", b'{"model": "resnet20", "seed": {"a": 1}, "nosuch": 1, "run_id": 5}'),
        ("result.json", b"{garbage"),
        ("result.json", b"[1, 2]"),
        ("result.json", b'{"status": "finished", "run_id": "RUN", "best_test_acc": 150}'),
    ],
    ids=["garbage-config", "bad-protocol", "bad-fields", "garbage-result", "list-result", "result-acc-150"],
)
def test_one_bad_run_among_good_ones_changes_nothing(tmp_path, capsys, damage):
    name, content = damage
    for seed in (0, 1, 2):
        _, old_id = write_schema1(tmp_path, seed=seed)
        if seed == 1:
            bad = tmp_path / old_id
            (bad / name).write_bytes(content.replace(b"RUN", old_id.encode()))
    before = snapshot(tmp_path)
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    refused = [line for line in out if line.startswith("refused")]
    assert len(refused) == 1 and bad.name in refused[0] and "nothing changed" in out[-1]
    assert snapshot(tmp_path) == before  # no config rewritten, no directory renamed


def test_a_failing_write_undoes_the_runs_already_migrated(tmp_path, monkeypatch, capsys):
    for seed in (0, 1):
        write_schema1(tmp_path, seed=seed)
    before = snapshot(tmp_path)
    from poolbench.train import migrate

    real, calls = migrate.atomic_write_json, []

    def fails_on_the_second_run(path, obj):
        calls.append(path)
        if len(calls) == 3:  # config + result of the first run were written
            raise OSError(28, "No space left on device", str(path))
        real(path, obj)

    monkeypatch.setattr(migrate, "atomic_write_json", fails_on_the_second_run)
    assert main([str(tmp_path)]) == 1
    assert "nothing changed" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_a_migration_killed_between_rename_and_rewrite_is_finished_by_the_next(tmp_path):
    c, old_id = write_schema1(tmp_path)
    (tmp_path / old_id).rename(tmp_path / c.run_id)  # renamed, config and result still the old ones
    assert main([str(tmp_path)]) == 0
    assert json.loads((tmp_path / c.run_id / "config.json").read_text())["run_id"] == c.run_id
    assert json.loads((tmp_path / c.run_id / "result.json").read_text())["run_id"] == c.run_id


def test_a_runs_directory_that_does_not_exist_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and len(err.splitlines()) == 1


def write_pool_file_run(runs_dir, tmp_path, stem="deepseek_channel_gate"):
    """A schema-2 pool-file run recorded under the class-only prefix ids had before they named the file."""
    pool = tmp_path / f"{stem}.py"
    pool.write_text("import torch.nn as nn\n\n\nclass CustomPool(nn.AdaptiveAvgPool2d):\n    pass\n")
    c = resolve(RunConfig(model="resnet20", dataset="synthetic", pool="file", pool_file=f"{pool}:CustomPool", seed=0))
    old_id = c.run_id_for(file_stem=False)
    run = runs_dir / old_id
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({**c.to_dict(), "run_id": old_id, "schema": 2}))
    (run / "result.json").write_text(json.dumps({"status": "finished", "run_id": old_id, "best_test_acc": 50.0}))
    return c, old_id


def test_pool_file_run_ids_name_the_file_and_two_files_differ(tmp_path):
    same = {"pool_file_sha": "0123456789abcdef", "init_version": 2}  # two files of the same content
    a = RunConfig(
        model="resnet20", dataset="synthetic", pool="file", pool_file=f"{tmp_path}/gate_a.py:CustomPool", **same
    )
    b = RunConfig(
        model="resnet20", dataset="synthetic", pool="file", pool_file=f"{tmp_path}/gate_b.py:CustomPool", **same
    )
    assert a.run_id_for(schema=1).startswith("resnet20-synthetic-file-gate_a-CustomPool-s0-")
    assert b.run_id_for(schema=1).startswith("resnet20-synthetic-file-gate_b-CustomPool-s0-")
    assert a.run_id_for(schema=1)[-10:] == a.run_id_for(schema=1, file_stem=False)[-10:]  # same hash


def test_a_pool_file_run_under_the_class_only_id_is_renamed_to_the_stem_id(tmp_path):
    runs = tmp_path / "runs"
    c, old_id = write_pool_file_run(runs, tmp_path)
    assert "-file-CustomPool-" in old_id and "-file-deepseek_channel_gate-CustomPool-" in c.run_id
    assert migrate_run(runs / old_id) == ("migrated", c.run_id)
    assert json.loads((runs / c.run_id / "result.json").read_text())["run_id"] == c.run_id
    cfg = json.loads((runs / c.run_id / "config.json").read_text())
    assert cfg["run_id"] == c.run_id and cfg["migrated_from"] == old_id
    assert not (runs / old_id).exists() and migrate_run(runs / c.run_id)[0] == "current"


@pytest.mark.timeout(20)
def test_a_result_json_that_is_a_fifo_is_refused_not_waited_on(tmp_path, capsys):
    import os

    _, old_id = write_schema1(tmp_path)
    (tmp_path / old_id / "result.json").unlink()
    os.mkfifo(tmp_path / old_id / "result.json")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FIFO" in out and (tmp_path / old_id).is_dir()
