"""``make setup`` (and so ``make demo`` and ``make test``) installs once, then only when what it installs
from changed: a stamp per install in .venv, older than pyproject.toml or the torch pin means redo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _question(tree: Path, target: str) -> int:
    """``make -q TARGET``: 0 when it is up to date (nothing would run), 1 when it would run."""
    return subprocess.run(["make", "-q", "-C", str(tree), target], capture_output=True, timeout=60).returncode


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["setup", "setup-dev", "setup-test"])
def test_setup_is_a_no_op_until_pyproject_or_the_torch_pin_changes(tmp_path, target):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements").mkdir()
    for name in ("pyproject.toml", "requirements/torch-cpu.txt", ".venv/bin/python"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert _question(tmp_path, target) == 1  # never installed: it would install
    t = 1_000_000_000
    for name in ("pyproject.toml", "requirements/torch-cpu.txt", ".venv/bin/python"):
        os.utime(tmp_path / name, (t, t))
    for stamp in (".setup.stamp", ".setup-dev.stamp", ".setup-test.stamp"):
        (tmp_path / ".venv" / stamp).write_text("")
        os.utime(tmp_path / ".venv" / stamp, (t + 10, t + 10))
    assert _question(tmp_path, target) == 0  # installed, nothing changed: a no-op
    os.utime(tmp_path / "pyproject.toml", (t + 20, t + 20))
    assert _question(tmp_path, target) == 1  # pyproject.toml changed: it installs again
