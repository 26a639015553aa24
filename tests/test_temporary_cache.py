"""The test session's own setup: every test reads and writes a temporary dataset cache and a
temporary home, never the user's ~/.cache/poolbench."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from poolbench.data import datasets
from poolbench.data.datasets import default_cache_dir, load_dataset
from tests.conftest import REAL_HOME


def test_the_dataset_cache_is_the_sessions_temporary_folder(session_cache):
    assert default_cache_dir() == session_cache
    assert not default_cache_dir().is_relative_to(REAL_HOME)


def test_without_poolbench_cache_the_fallback_is_the_temporary_home(session_home, monkeypatch):
    monkeypatch.delenv("POOLBENCH_CACHE")
    assert Path.home() == session_home != REAL_HOME
    assert default_cache_dir() == session_home / ".cache" / "poolbench"


def test_a_loaded_dataset_is_cached_in_the_sessions_folder(session_cache, monkeypatch):
    monkeypatch.setattr(datasets, "_MEMORY", OrderedDict())  # not served from memory: read or written on disk
    key = datasets.cache_key("synthetic")
    load_dataset("synthetic")
    assert (session_cache / f"{key}.pt").is_file()
