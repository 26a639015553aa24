"""The ``poolbench`` command line: thin argparse subcommands over the library.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the
parsed args and returning an exit code). Modules are discovered, so adding a command is adding
a file.

Every command module is imported to build the parser, so a command module imports nothing heavy
at its top (no torch, numpy, scipy, matplotlib, ray; only the standard library, ``_args`` and
``_validate`` and the light modules they use): a usage error or ``--help`` then answers before
torch loads. The command's work imports what it needs inside its ``func``.
``tests/cli/test_command_line.py`` keeps this true for every command.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..version import __version__


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the flag, the value, the fix), exit 2: the usage
    block argparse prints first buries the line that matters."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        # the commands' descriptions are their module docstrings: their ``literal`` markup is for
        # the source reader, not the terminal
        return super().format_help().replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="poolbench",
        description="Global pooling for CNN classifiers: library, contract checker, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"poolbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{m.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:  # one line on how to go on, never a traceback
        # RunInterrupted (in an epoch) and DataInterrupted (loading data) say where; a bare Ctrl-C not
        line = (
            str(exc) or "interrupted; finished epochs are saved after every epoch: run the same command again to resume"
        )
        print(f"\npoolbench {args.command}: {line}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
