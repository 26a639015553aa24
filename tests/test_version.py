"""One version string: ``poolbench/version.py`` is the source (``poolbench.__version__`` re-exports it),
the package metadata is built from it."""

import importlib.metadata
import re
from pathlib import Path

import pytest

import poolbench

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_installed_metadata_is_the_package_version():
    assert importlib.metadata.version("poolbench") == poolbench.__version__


def test_pyproject_reads_the_version_from_the_package():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    doc = tomllib.loads(PYPROJECT.read_text())
    assert "version" not in doc["project"], "a second, static version in pyproject.toml"
    assert "version" in doc["project"]["dynamic"]
    assert doc["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "poolbench.version.__version__"}


def test_the_version_is_pep440():
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*(\.dev\d+)?", poolbench.__version__)
