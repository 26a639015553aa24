"""``poolbench reproduce NAME``: a seed paper's table, run where missing, printed beside the paper's.

One module per paper in this package, one name each. A reproduction module defines ``NAME`` (the
``poolbench reproduce`` name, e.g. ``birodkar2019``), ``HELP`` (one line), ``add_arguments(parser)``
and ``main(args) -> int``. It builds the paper's runs as run configs, trains what is missing
through an executor (``sweep.run_sweep``: resumable, shared between processes by the local
executor's claims), calls library functions for any other step (``lda.fit_layer`` for a fit), never
the command line (``cli.main``), and prints the paper's table layout with the paper's numbers
beside ours; it reports only runs that exist. Reproductions are commands: they build on the
command line's argument helpers, so they live beside them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def reproductions() -> dict[str, ModuleType]:
    """Every reproduction module in this package, by its ``NAME``."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.NAME] = module
    return found


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="a seed paper's table: runs what is missing, prints ours beside the paper's",
        description="Reproduce a seed paper's table. Each NAME has its own options (--help after it).",
    )
    names = p.add_subparsers(dest="paper", metavar="NAME")
    for name, module in reproductions().items():
        q = names.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(q)
        q.set_defaults(func=module.main)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
