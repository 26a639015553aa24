"""The names a registry holds can be read from the source without importing it: the command line
checks ``--model``/``--dataset``/``--pool`` before torch loads, against the same decorators."""

from __future__ import annotations

from pathlib import Path

import pytest

from poolbench.registry import declared_names

SRC = Path(__file__).resolve().parents[1] / "src" / "poolbench"


@pytest.mark.parametrize(
    "folder, decorator, listing",
    [
        ("pools", "register_pool", "poolbench.pools:list_pools"),
        ("models", "register_model", "poolbench.models:list_models"),
        ("data", "register_dataset", "poolbench.data:list_datasets"),
    ],
)
def test_the_declared_names_are_the_registered_ones(folder, decorator, listing):
    import importlib

    module, name = listing.split(":")
    assert declared_names([str(SRC / folder)], decorator) == sorted(getattr(importlib.import_module(module), name)())


def test_a_new_module_is_read_and_other_calls_are_not(tmp_path):
    (tmp_path / "new.py").write_text(
        'from x import register_pool\n\n@register_pool("fresh")\nclass P: ...\n\nother("not-a-pool")\n'
    )
    (tmp_path / "broken.py").write_text("def (:\n")  # unreadable source: skipped, not an error
    assert declared_names([str(tmp_path)], "register_pool") == ["fresh"]
    assert declared_names([str(tmp_path / "missing")], "register_pool") == []
