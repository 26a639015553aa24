"""Data tests start from an empty cache: each gets its own cache folder and an empty memory cache.
The real-data tests share the session's cache instead (tests/conftest.py), so the real archives are
decoded once per session, not once per test."""

from __future__ import annotations

import pytest

from poolbench.data import datasets


@pytest.fixture(autouse=True)
def isolated_cache(request, tmp_path, monkeypatch):
    if request.node.get_closest_marker("realdata"):
        yield request.getfixturevalue("session_cache")
        return
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path / "cache"))
    datasets._MEMORY.clear()
    yield tmp_path / "cache"
    datasets._MEMORY.clear()
