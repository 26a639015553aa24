"""A run directory is data someone else may have written: the analysis commands import no pool file
it names unless the user asks on the command line, and write nowhere outside it."""

from __future__ import annotations

import hashlib
import json

import pytest

from poolbench.cli import main
from poolbench.train.config import RunConfig

COMMANDS = {
    "show": ["show", "{run}", "--device", "cpu"],
    "robustness": ["robustness", "{run}", "--corruptions", "fog", "--perturbations", "none", "--device", "cpu"],
    "fit-lda": ["fit-lda", "{run}", "--layer", "final", "--alpha", "1", "--device", "cpu"],
}


def everything(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A run directory whose config.json names a pool file that leaves a marker when imported, with
    that file's true sha256 (whoever wrote the config.json could compute it)."""
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "IMPORTED"
    pool = tmp_path / "evil.py"
    pool.write_text(f"open({str(marker)!r}, 'w').close()\nclass CustomPool: pass\n")
    cfg = RunConfig(model="resnet20", dataset="synthetic", seed=0).to_dict()
    cfg.update(
        pool="file", pool_file=f"{pool}:CustomPool", pool_file_sha=hashlib.sha256(pool.read_bytes()).hexdigest()[:16]
    )
    run = tmp_path / "runs" / "resnet20-synthetic-file-CustomPool-s0-0000000000"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(dict(cfg, run_id=run.name)))
    return run, pool, marker


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pool_file_named_by_a_run_directory_is_not_imported_without_the_flag(hostile, tmp_path, capsys, command):
    run, pool, marker = hostile
    before = everything(tmp_path)
    rc = main([a.replace("{run}", str(run)) for a in COMMANDS[command]])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not marker.exists()
    assert len(err.splitlines()) == 1 and str(pool) in err and "--trust-pool-file" in err
    assert everything(tmp_path) == before  # nothing written, in the run directory or anywhere else


@pytest.mark.parametrize("command", COMMANDS)
def test_a_trusted_or_named_pool_file_must_still_be_the_one_the_run_recorded(hostile, tmp_path, capsys, command):
    run, pool, marker = hostile
    other = tmp_path / "other.py"
    other.write_text(f"open({str(marker)!r}, 'w').close()\nclass CustomPool: pass\n# another file\n")
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(cfg, pool_file_sha="0" * 16)))
    argv = [a.replace("{run}", str(run)) for a in COMMANDS[command]]
    for flags in (["--trust-pool-file"], ["--pool-file", str(other)]):
        rc = main(argv + flags)
        err = capsys.readouterr().err.strip()
        assert rc == 2 and not marker.exists()
        assert len(err.splitlines()) == 1 and "not the one the run trained with" in err


def test_reproductions_load_runs_without_trusting_any_pool_file(hostile, tmp_path):
    """``reproduce`` (birodkar2019's fit step) calls load_trained with no flag: its planned runs name
    no pool file, so a config.json that does is refused there too."""
    from poolbench.cli._trained import load_trained

    run, pool, marker = hostile
    before = everything(tmp_path)
    with pytest.raises(ValueError, match="--trust-pool-file"):
        load_trained(run, "cpu")
    assert not marker.exists() and everything(tmp_path) == before
