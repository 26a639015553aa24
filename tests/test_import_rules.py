"""The package arrows docs/ARCHITECTURE.md allows, checked on the source (every import, lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "poolbench"


def imported_packages(path: Path, root: Path = SRC) -> set[str]:
    """The poolbench subpackages (``results``, ``train``, ...) or top-level modules a file imports;
    ``root`` is the ``poolbench`` package folder the file lies in."""
    module = ["poolbench", *path.relative_to(root).with_suffix("").parts]
    package = module[:-1]  # a module's package; an __init__'s own package (its name drops "__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            names = [target + [a.name] for a in node.names] if node.module is None else [target]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        found.update(n[1] for n in names if len(n) > 1 and n[0] == "poolbench")
    return found


def test_the_checker_sees_relative_absolute_and_lazy_imports(tmp_path):
    pkg = tmp_path / "poolbench" / "train"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text("from ..results import index\nimport poolbench.viz\ndef g():\n    from ..runs import RunDir\n")
    assert imported_packages(f, tmp_path / "poolbench") == {"results", "viz", "runs"}
    init = pkg / "__init__.py"
    init.write_text("from . import engine\nfrom .. import sweep\n")
    assert imported_packages(init, tmp_path / "poolbench") == {"train", "sweep"}


@pytest.mark.parametrize("package, forbidden", [("train", "results")])
def test_no_forbidden_arrow(package, forbidden):
    offenders = [
        str(f.relative_to(SRC)) for f in sorted((SRC / package).rglob("*.py")) if forbidden in imported_packages(f)
    ]
    assert not offenders, f"{package} must not import {forbidden}: {offenders}"
