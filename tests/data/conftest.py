"""Data tests never touch ~/.cache: each test gets its own cache folder and an empty memory cache."""

from __future__ import annotations

import pytest

from poolbench.data import datasets


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    datasets._MEMORY.clear()
    yield tmp_path / "cache"
    datasets._MEMORY.clear()
