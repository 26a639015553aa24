"""A new executor is one file: a class under ``@register_executor("NAME")``, found by name, built
with its own options, and used by ``run_sweep``."""

import sys

import pytest

import poolbench.executors as executors
from poolbench.executors import Executor, create_executor, register_executor
from poolbench.sweep import expand_grid, run_sweep
from poolbench.train import Protocol
from poolbench.train.resolve import resolve
from tests.sweep.fakes import FakeEngine


def test_the_shipped_executors_are_found_default_first_with_their_own_options():
    assert executors.EXECUTORS == ("local", "ray")
    local = create_executor("local", pack=2, progress=False)
    assert type(local).__name__ == "LocalExecutor" and isinstance(local, Executor) and local.pack == 2
    ray = create_executor("ray", address="auto")  # nothing starts before run()
    assert isinstance(ray, Executor) and ray.address == "auto"
    with pytest.raises(TypeError, match="address"):
        create_executor("local", address="auto")  # an option the local executor does not have
    for name in executors.list_executors():
        assert executors._EXECUTORS.get(name).name == name  # the name it records in attempts.jsonl


def test_a_new_module_in_the_package_is_an_executor_without_being_listed(tmp_path, monkeypatch):
    (tmp_path / "inline.py").write_text(
        "from poolbench.executors import register_executor\n\n"
        '@register_executor("inline")\n'
        "class Inline:\n"
        '    name = "inline"\n\n'
        "    def __init__(self, cores=1):\n        self.cores = cores\n\n"
        "    def run(self, configs, runs_dir):\n        return {}\n"
    )
    monkeypatch.setattr(executors, "__path__", [*executors.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "poolbench.executors.inline", raising=False)
    monkeypatch.setattr(executors._EXECUTORS, "_entries", dict(executors._EXECUTORS._entries))
    assert set(executors.executor_names()) == {"local", "ray", "inline"}  # read from the source...
    assert "poolbench.executors.inline" not in sys.modules  # ...without importing it
    assert create_executor("inline", cores=4).cores == 4
    assert set(executors.list_executors()) == {"local", "ray", "inline"}
    sys.modules.pop("poolbench.executors.inline", None)


def test_an_executor_registered_in_a_test_is_found_by_name_and_trains_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr(executors._EXECUTORS, "_entries", dict(executors._EXECUTORS._entries))
    engine, seen = FakeEngine(), []

    @register_executor("recording")
    class Recording:
        name = "recording"

        def __init__(self, tag):
            self.tag = tag

        def run(self, configs, runs_dir):
            seen.append((self.tag, [c.run_id for c in configs]))
            out = {}
            for cfg in reversed(configs):  # any order: the summary keeps the grid's
                out.update(engine.worker([cfg], runs_dir, executor=self.name))
            return out

    configs = expand_grid(["avg", "max"], ["resnet20"], ["synthetic"], [0], Protocol(epochs=1))
    summary = run_sweep(configs, tmp_path, create_executor("recording", tag="t"))
    ids = [resolve(c).run_id for c in configs]
    assert seen == [("t", ids)] and summary.finished == 2
    assert list(summary.results) == ids
    assert run_sweep(configs, tmp_path, create_executor("recording", tag="again")).skipped == 2
    assert len(seen) == 1  # done runs never reach an executor


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown executor 'slurm'; valid names: local, ray"):
        create_executor("slurm")
