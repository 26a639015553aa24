"""Provenance: the commit a number came from, also where the tree travelled without its .git."""

from __future__ import annotations

import subprocess

from poolbench.train import provenance


def test_commit_falls_back_to_the_recorded_one_without_git(monkeypatch):
    def no_git(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    provenance.git_commit.cache_clear()
    try:
        monkeypatch.setenv("POOLBENCH_COMMIT", "abc1234def")
        assert provenance.git_commit() == "abc1234def (from POOLBENCH_COMMIT)"
        provenance.git_commit.cache_clear()
        monkeypatch.delenv("POOLBENCH_COMMIT")
        assert provenance.git_commit() == "unknown"
    finally:
        provenance.git_commit.cache_clear()
