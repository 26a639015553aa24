"""A new executor is one file: executors/__init__ finds a module by its NAME and builds it with create()."""

import sys

import pytest

import poolbench.executors as executors


def test_the_shipped_executors_are_found_default_first():
    assert executors.EXECUTORS == ("local", "ray")
    assert type(executors.get_executor("local")).__name__ == "LocalExecutor"
    assert executors.get_executor("ray", ray_address="auto").address == "auto"  # nothing starts before run()


def test_a_new_module_in_the_package_is_an_executor_without_being_listed(tmp_path, monkeypatch):
    (tmp_path / "inline.py").write_text(
        'NAME = "inline"\n\n'
        "class Inline:\n    def __init__(self, address):\n        self.address = address\n\n"
        "def create(ray_address=None):\n    return Inline(ray_address)\n"
    )
    monkeypatch.setattr(executors, "__path__", [*executors.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "poolbench.executors.inline", raising=False)
    assert set(executors.executor_names()) == {"local", "ray", "inline"}  # read from the source...
    assert "poolbench.executors.inline" not in sys.modules  # ...without importing it
    assert set(executors.executor_modules()) == {"local", "ray", "inline"}
    assert executors.get_executor("inline", ray_address="x").address == "x"
    sys.modules.pop("poolbench.executors.inline", None)


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown executor 'slurm'; valid executors: local, ray"):
        executors.get_executor("slurm")
