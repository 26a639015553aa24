"""The package-level import graph of ``poolbench`` keeps the arrows docs/ARCHITECTURE.md draws.

Every import counts, lazy ones inside functions and ``importlib.import_module("poolbench....")``
with a constant name too, so an arrow cannot hide. ``ALLOWED`` is the whole list of arrows the
architecture permits: a new arrow fails here until it is added to the list and to the picture in
docs/ARCHITECTURE.md. Print the graph the document is drawn from with

    PYTHONPATH=src python tests/test_import_graph.py [--allowed]
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "src" / "poolbench"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"
TOP = "poolbench"  # the package's own __init__ (the version string)

# package -> the packages it may import. A package is a folder of src/poolbench or a top-level module.
ALLOWED: dict[str, set[str]] = {
    TOP: {"version", "pools", "models", "trained"},  # the version and the library's face (lazily)
    "version": set(),
    "registry": set(),
    "build_error": set(),
    "fileio": set(),
    "tensorfile": {"fileio"},
    "suites": set(),
    "pools": {"fileio", "registry", "tensorfile"},
    "models": {"build_error", "pools", "registry"},
    "data": {"fileio"},
    "lda": {"build_error", "pools"},
    "runs": {"fileio", "tensorfile"},
    "train": {"version", "build_error", "data", "fileio", "lda", "models", "pools", "registry", "runs", "suites"},
    "results": {"version", "fileio", "models", "pools", "runs", "suites", "train"},
    "robustness": {"fileio", "runs"},
    "viz": {"fileio", "pools"},
    "executors": {"registry", "runs", "train"},
    "sweep": {"data", "executors", "results", "runs", "suites", "train"},
    "bench": {"data", "fileio", "models", "train"},
    "cli": {
        "version",
        "registry",
        "build_error",
        *("bench", "data", "executors", "fileio", "lda", "models", "pools", "results"),
        *("robustness", "runs", "suites", "sweep", "train", "trained", "viz"),
    },
    "trained": {"fileio", "pools", "runs", "train"},
    "harness": {"cli"},
    "__main__": {"cli"},
}
# Arrows against the layering (training reads no results, models no fitted LDA, pools no models):
# they stay out whatever ALLOWED says.
FORBIDDEN = {("train", "results"), ("models", "lda"), ("pools", "models")}


def package_of(module: str) -> str:
    """``poolbench.train.engine`` -> ``train``; ``poolbench.sweep`` -> ``sweep``; ``poolbench`` -> TOP."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else TOP


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """(dotted module name, whether it is a package's __init__)."""
    rel = path.relative_to(root.parent).with_suffix("")
    if rel.name == "__init__":
        return ".".join(rel.parts[:-1]), True
    return ".".join(rel.parts), False


def is_module(dotted: str, root: Path) -> bool:
    """Whether ``poolbench.x.y`` names a module or package of the tree (not a name inside one)."""
    path = root.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported(node: ast.AST, module: str, is_package: bool, root: Path) -> list[str]:
    """The poolbench modules an import node names (``from X import a`` -> X.a where that is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == TOP]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        elif node.module and node.module.split(".")[0] == TOP:
            source = node.module
        else:
            return []
        subs = [f"{source}.{a.name}" for a in node.names if is_module(f"{source}.{a.name}", root)]
        return subs + ([source] if len(subs) < len(node.names) else [])
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).split(".")[0] == TOP
    ):
        return [str(node.args[0].value)]
    return []


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """{package: packages it imports}, arrows inside one package left out."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text())):
            for target in imported(node, module, is_package, root):
                a, b = package_of(module), package_of(target)
                if a != b:
                    edges[a].add(b)
    return dict(edges)


def module_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{module: the modules of the same package it imports} for the modules under ``package``
    (``train`` -> ``poolbench.train.config``, ``poolbench.train.packing.plan``, ...), lazy imports too."""
    prefix = f"{TOP}.{package}"
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted((root / package).rglob("*.py")):
        module, is_package = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text())):
            for target in imported(node, module, is_package, root):
                if target != module and (target == prefix or target.startswith(prefix + ".")):
                    edges[module].add(target)
    return dict(edges)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_reader_sees_lazy_relative_and_dynamic_imports(tmp_path):
    pkg = tmp_path / "poolbench"
    for name in ("a", "b", "c", "d"):
        (pkg / name).mkdir(parents=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("__version__ = '0'\n")
    (pkg / "top.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from ..b import y\n    from .. import top, __version__\n")
    (pkg / "b" / "y.py").write_text("import importlib\nm = importlib.import_module('poolbench.c.z')\n")
    (pkg / "d" / "w.py").write_text("from poolbench.a.x import f\nfrom . import w\n")
    graph = package_graph(pkg)
    assert graph == {"a": {"b", "top", TOP}, "b": {"c"}, "d": {"a"}}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_cycle_between_packages():
    assert cycles(package_graph()) == []


def test_the_module_reader_sees_a_lazy_cycle_inside_a_package(tmp_path):
    pkg = tmp_path / "poolbench"
    (pkg / "t").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "t" / "__init__.py").write_text("")
    (pkg / "t" / "config.py").write_text("def f():\n    from .data import g\n")
    (pkg / "t" / "data.py").write_text("from . import config\n")
    (pkg / "t" / "leaf.py").write_text("from .config import f\n")
    graph = module_graph("t", pkg)
    assert graph == {
        "poolbench.t.config": {"poolbench.t.data"},
        "poolbench.t.data": {"poolbench.t.config"},
        "poolbench.t.leaf": {"poolbench.t.config"},
    }
    assert cycles(graph) == [["poolbench.t.config", "poolbench.t.data"]]


def test_no_cycle_between_the_modules_of_train():
    """The run's value (config), the data it selects and the training code import one way only,
    lazy imports inside functions included."""
    assert cycles(module_graph("train")) == []


def test_none_of_the_removed_arrows_is_back():
    graph = package_graph()
    assert [(a, b) for a, b in sorted(FORBIDDEN) if b in graph.get(a, set())] == []


def test_every_arrow_is_one_the_architecture_allows():
    graph = package_graph()
    extra = sorted((a, b) for a, targets in graph.items() for b in targets if b not in ALLOWED.get(a, set()))
    assert extra == [], "new arrows: add them to ALLOWED and to docs/ARCHITECTURE.md, or remove the import"


def packages(root: Path = ROOT) -> set[str]:
    """The folders with an ``__init__.py`` and the top-level modules of the tree, and TOP."""
    found = {p.parent.name for p in root.glob("*/__init__.py")} | {p.stem for p in root.glob("*.py")}
    return (found - {"__init__"}) | {TOP}


def documented_arrows(text: str) -> dict[str, set[str]]:
    """{package: the packages its row may import} from the table under "## Packages" in the doc."""
    section = text.split("\n## Packages", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)`[^|]*\|[^|]*\| ([^|]*) \|$", section, re.M)
    return {package: set(re.findall(r"`([^`]+)`", last)) for package, last in rows}


def test_every_package_has_its_row_in_the_rules():
    assert packages() == set(ALLOWED)


def test_the_architecture_document_shows_these_rules():
    assert documented_arrows(ARCHITECTURE.read_text()) == ALLOWED


def main(argv: list[str]) -> int:
    graph = package_graph()
    shown = ALLOWED if "--allowed" in argv else graph
    for a in sorted(shown):
        print(f"{a:12s} -> {', '.join(sorted(shown[a])) or '(nothing)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
