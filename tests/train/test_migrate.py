"""Schema-1 run directories (no data fingerprint) are migrated to the current run id, checked first."""

import json

from poolbench.train import Protocol, RunConfig
from poolbench.train.migrate import main, migrate_run


def write_schema1(runs_dir, seed=0, tamper=False):
    c = RunConfig(model="resnet20", dataset="synthetic", pool="gem", seed=seed, protocol=Protocol(epochs=1))
    old_id = c.run_id_for(schema=1)
    d = c.to_dict()
    d.pop("data_fingerprint")
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
