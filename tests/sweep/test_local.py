"""run_sweep on the local executor with a fake engine: skip, retry, failures, packing, index."""

import json

import pytest

from poolbench.executors.local import LocalExecutor
from poolbench.runs import RunDir
from poolbench.sweep import expand_grid, run_sweep
from poolbench.train import Protocol
from poolbench.train.resolve import resolve
from tests.sweep.fakes import FakeEngine

TINY = Protocol(epochs=2, train_subset=256, test_subset=128)


def grid(pools=("avg", "max"), seeds=(0, 1)):
    return expand_grid(list(pools), ["resnet20"], ["synthetic"], list(seeds), TINY)


def on(engine, pack=None):
    """The local executor training with a fake engine, no bars."""
    return LocalExecutor(pack=pack, progress=False, worker=engine.worker)


def test_sweep_runs_every_config_once_then_skips_them(tmp_path):
    eng, cfgs = FakeEngine(), grid()
    s = run_sweep(cfgs, tmp_path, on(eng))
    assert (s.total, s.skipped, s.finished, s.diverged, s.failed) == (4, 0, 4, 0, 0)
    assert eng.calls == [resolve(c).run_id for c in cfgs]
    assert list(s.results) == [resolve(c).run_id for c in cfgs]
    again = FakeEngine()
    s2 = run_sweep(cfgs, tmp_path, on(again))
    assert again.calls == [] and (s2.skipped, s2.finished) == (4, 0)
    assert s2.results == s.results  # read back from result.json


def test_a_crash_is_recorded_and_the_sweep_goes_on(tmp_path):
    cfgs = grid(pools=("avg", "bad", "max"))
    s = run_sweep(cfgs, tmp_path, on(FakeEngine(fail={"bad"})))
    assert (s.finished, s.failed) == (4, 2)
    bad = [c for c in cfgs if c.pool == "bad"]
    for cfg in bad:
        rd = RunDir(tmp_path, resolve(cfg).run_id)
        result = rd.read_result()
        assert result["status"] == "failed" and result["error"] == "RuntimeError: boom in bad"
        assert result["provenance"]["torch_version"]
        assert "Traceback" in (rd.path / "error.log").read_text()
        assert json.loads(rd.config.read_text())["run_id"] == resolve(cfg).run_id
    assert {r["run_id"] for r in s.problems()} == {resolve(c).run_id for c in bad}

    # the next sweep retries the failed runs only, and keeps their old error in attempts.jsonl
    eng = FakeEngine()
    s2 = run_sweep(cfgs, tmp_path, on(eng))
    assert sorted(eng.calls) == sorted(resolve(c).run_id for c in bad)
    assert (s2.skipped, s2.finished, s2.failed) == (4, 2, 0)
    attempts = [json.loads(line) for line in (RunDir(tmp_path, resolve(bad[0]).run_id).path / "attempts.jsonl").open()]
    assert [a.get("previous_error") for a in attempts] == [None, "RuntimeError: boom in bad"]


def test_diverged_runs_count_as_done(tmp_path):
    cfgs = grid()
    s = run_sweep(cfgs, tmp_path, on(FakeEngine(diverge={"max"})))
    assert (s.finished, s.diverged) == (2, 2)
    eng = FakeEngine()
    assert run_sweep(cfgs, tmp_path, on(eng)).skipped == 4 and eng.calls == []


def test_duplicated_configs_run_once(tmp_path):
    eng = FakeEngine()
    s = run_sweep(grid() + grid(), tmp_path, on(eng))
    assert s.total == 4 and len(eng.calls) == 4


def test_packs_go_to_the_packer_and_a_crashed_pack_fails_each_run(tmp_path):
    eng = FakeEngine()
    s = run_sweep(grid(seeds=(0, 1, 2)), tmp_path / "ok", on(eng, pack=4))
    assert [len(p) for p in eng.packs] == [4, 2] and s.finished == 6

    bad = FakeEngine(pack_fails=True)
    s = run_sweep(grid(), tmp_path / "bad", on(bad, pack=4))
    assert s.failed == 4
    assert all("pack of 4 runs failed" in r["error"] and "MemoryError" in r["error"] for r in s.results.values())


def test_driver_rebuilds_the_index_once_at_the_end(tmp_path, monkeypatch):
    calls = []

    def build_index(runs_dir):
        calls.append((runs_dir, sorted(p.name for p in runs_dir.iterdir())))

    monkeypatch.setattr("poolbench.results.index.build_index", build_index)
    cfgs = grid()
    run_sweep(cfgs, tmp_path, on(FakeEngine()))
    assert calls == [(tmp_path.resolve(), sorted(resolve(c).run_id for c in cfgs))]


def test_a_broken_index_is_a_warning_not_a_lost_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr("poolbench.results.index.build_index", lambda runs_dir: 1 / 0)
    with pytest.warns(UserWarning, match="index not rebuilt"):
        s = run_sweep(grid(), tmp_path, on(FakeEngine()))
    assert s.finished == 4


@pytest.mark.slow
def test_real_2_pool_2_seed_synthetic_sweep(tmp_path):
    """Done-criterion of the sweep: the engine itself, end to end, on the local executor."""
    from tests.sweep.checks import assert_complete_and_unduplicated

    cfgs = grid()
    s = run_sweep(cfgs, tmp_path, LocalExecutor(progress=False))
    assert (s.total, s.finished, s.failed, s.diverged) == (4, 4, 0, 0), s.problems()
    assert_complete_and_unduplicated(tmp_path, cfgs)
    assert (tmp_path / "index.sqlite").exists()
    assert run_sweep(cfgs, tmp_path, LocalExecutor(progress=False)).skipped == 4
