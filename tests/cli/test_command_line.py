"""The command line answers a usage error, ``--help`` and ``--version`` before anything heavy loads.

Each case runs ``poolbench`` in a fresh interpreter and reads ``sys.modules`` afterwards: a command
module that imports torch (or numpy, scipy, matplotlib, ray) at its top makes every usage error wait
for it, which took 40-50 s on a loaded machine. No wall time is asserted; the imports are."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import poolbench
from poolbench.cli import build_parser

HEAVY = ("torch", "numpy", "scipy", "matplotlib", "ray", "PIL")

PROBE = """
import json, sys
from poolbench.cli import main
try:
    rc = main(json.loads(sys.argv[1]))
except SystemExit as e:
    rc = e.code
print(json.dumps({"rc": rc, "heavy": sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)}), file=sys.stderr)
"""


def _commands() -> list[list[str]]:
    """Every command and reproduction, as the argv that names it (discovered, so a new one is covered)."""
    import argparse

    out = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                out += [[name, n] for a in nested for n in a.choices] if nested else [[name]]
    return out


def probe(argv: list[str]) -> tuple[int, list[str], str, str]:
    """(exit code, heavy modules loaded, stdout, stderr without the probe's own line)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *err, last = proc.stderr.rstrip("\n").split("\n")
    found = json.loads(last)
    return found["rc"], found["heavy"], proc.stdout, "\n".join(err)


COMMANDS = _commands()


def test_every_command_is_probed():
    names = {c[0] for c in COMMANDS}
    assert {"run", "sweep", "harness", "bench", "check", "show", "table", "reproduce"} <= names
    assert ["reproduce", "flexpool2023"] in COMMANDS and ["reproduce", "birodkar2019"] in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_flag_is_answered_before_torch_loads(command):
    rc, heavy, _, err = probe([*command, "--no-such-flag"])
    assert rc == 2 and len(err.splitlines()) == 1 and "error:" in err, err  # (a missing positional may come first)
    assert heavy == [], f"poolbench {' '.join(command)} --no-such-flag imported {heavy}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_is_answered_before_torch_loads(command):
    rc, heavy, out, _ = probe([*command, "--help"])
    assert rc == 0 and out.startswith("usage:"), out[:200]
    assert heavy == [], f"poolbench {' '.join(command)} --help imported {heavy}"
    assert "%%" not in out and "``" not in out, "argparse left a doubled % or RST markup in the help"


# a value the flag alone can judge, one per command: refused before torch loads, in one line
VALUE_ERRORS = [
    ["run", "--model", "nosuch", "--dataset", "synthetic"],
    ["run", "--model", "resnet20", "--dataset", "imagenet"],
    ["run", "--model", "resnet20", "--dataset", "synthetic", "--pool", "nosuch"],
    ["run", "--model", "resnet20", "--dataset", "synthetic", "--epochs", "0"],
    ["sweep", "--pools", "avg", "--models", "resnet20", "--datasets", "imagenet"],
    ["sweep", "--pools", "avg", "--ray-address", "garbage"],
    ["harness", "pool.py", "--arch", "resnet20", "--dataset", "imagenet"],
    ["harness", "pool.py", "--arch", "resnet20", "--dataset", "cifar10", "--device", "bogus"],
    ["bench", "--steps", "-1"],
    ["bench", "--models", "nosuch"],
    ["check", "gem", "--channels", "0"],
    ["demo", "--model", "nosuch"],
    ["show", "run", "--n", "0"],
    ["robustness", "run", "--severities", "0-9"],
    ["fit-lda", "run", "--alpha", "nan"],
    ["table", "--format", "xml"],
    ["reproduce", "flexpool2023", "--reg", "nan"],
    ["reproduce", "birodkar2019", "--layers", "4"],
]


@pytest.mark.parametrize("argv", VALUE_ERRORS, ids=" ".join)
def test_a_bad_value_is_answered_before_torch_loads(argv):
    rc, heavy, _, err = probe(argv)
    assert rc == 2 and len(err.splitlines()) == 1 and "error:" in err, err
    assert heavy == [], f"poolbench {' '.join(argv)} imported {heavy}"


def test_the_top_level_help_and_a_bad_command_are_light():
    assert probe(["--help"])[:2] == (0, [])
    rc, heavy, _, err = probe(["--bad-flag"])
    assert (rc, heavy) == (2, []) and len(err.splitlines()) == 1


def test_version():
    rc, heavy, out, _ = probe(["--version"])
    assert (rc, heavy) == (0, []) and out.strip() == f"poolbench {poolbench.__version__}"


def test_importing_the_package_loads_no_torch():
    code = f"import sys, poolbench, poolbench.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip() == "[]"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--model", "VGG16BN", "--dataset", "fmnist"],
        ["harness", "pool.py", "--arch", "vgg16bn", "--dataset", "fmnist"],
        ["sweep", "--pools", "avg", "--models", "vgg16-bn", "--datasets", "fashion-mnist"],
        ["demo", "--model", "vgg16bn", "--dataset", "fmnist"],
    ],
    ids=lambda a: a[0],
)
def test_one_spelling_table_for_models_and_datasets(argv):
    args = build_parser().parse_args(argv)
    model = getattr(args, "model", None) or getattr(args, "arch", None) or args.models[0]
    dataset = args.dataset if hasattr(args, "dataset") else args.datasets[0]
    assert (model, dataset) == ("vgg16_bn", "fashion_mnist")


MINIMAL = {
    "run": ["run", "--model", "resnet20", "--dataset", "synthetic"],
    "sweep": ["sweep", "--pools", "avg"],
    "harness": ["harness", "pool.py", "--arch", "resnet20", "--dataset", "cifar10"],
    "demo": ["demo"],
}


@pytest.mark.parametrize("command", list(MINIMAL.values()), ids=list(MINIMAL))
def test_threads_default_and_apply(command, monkeypatch):
    import torch

    from poolbench.cli._args import DEFAULT_THREADS, apply_threads

    args = build_parser().parse_args([*command, "--threads", "1"])
    assert args.threads == 1
    defaults = {a.dest: a.default for a in _subparser(command[0])._actions}
    assert defaults["threads"] == DEFAULT_THREADS
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    apply_threads(args)
    assert seen == [1]


def _subparser(name: str):
    import argparse

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


@pytest.mark.parametrize("cores, load, threads", [(2, 0.3, 2), (2, 9.8, 1), (2, 1.4, 1), (8, 2.0, 6), (8, 0.0, 8)])
def test_auto_threads_are_the_cores_not_already_busy(monkeypatch, cores, load, threads):
    import os

    from poolbench.cli._args import auto_threads

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert auto_threads() == threads


def test_threads_auto_is_resolved_when_applied(monkeypatch):
    import argparse

    import torch

    from poolbench.cli import _args

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    monkeypatch.setattr(_args, "auto_threads", lambda: 3)
    _args.apply_threads(argparse.Namespace(threads="auto"))
    assert seen == [3]
    with pytest.raises(argparse.ArgumentTypeError):
        _args.threads_arg("0")
