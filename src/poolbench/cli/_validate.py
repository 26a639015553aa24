"""Every input ``run`` and ``sweep`` take, checked before a run directory exists.

A bad flag costs the user one line naming the flag, the value and the fix (exit 2), never a
traceback, a silently different run, or a run directory that counts as done forever. The
argparse types below check what a value alone can tell; ``validate_configs`` checks what needs the
whole configuration: ``train.preflight.preflight`` (the one check ``train_run`` makes too: names,
arguments, weights files, one build of the model), each problem named by the flag that set its
field (``cli/_flags.py``), and the data sizes, by loading the dataset the runs would load anyway.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any


class UsageError(ValueError):
    """A command-line value that cannot be used; the message names the flag, the value and the fix."""


def bad(flag: str, value: Any, problem: str, fix: str) -> UsageError:
    return UsageError(f"{flag} {value}: {problem}; {fix}")


def one_line_error(prog: str, exc: BaseException) -> str:
    """``prog: error: message`` on one line, whatever the exception (a full disk says what to do)."""
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        msg = (
            f"no space left on device{f' writing {exc.filename}' if exc.filename else ''}: free some space and "
            f"run the same command again (finished epochs are kept and the run resumes)"
        )
    elif isinstance(exc, OSError) and exc.filename and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror}"
    else:
        msg = str(exc) or type(exc).__name__
    return f"{prog}: error: " + " ".join(msg.split())


# ----------------------------------------------------------------------------- argparse types
def int_at_least(low: int, hint: str = "") -> Callable[[str], int]:
    """argparse type: an integer >= ``low`` (argparse names the flag in its message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}; give an integer >= {low}{hint}")
        return value

    parse.__name__ = f"int>={low}"
    return parse


def finite_float(
    low: float = 0.0, high: float = math.inf, low_open: bool = False, hint: str = ""
) -> Callable[[str], float]:
    """argparse type: a finite float in [low, high) (or (low, high) with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number; give a finite value{hint}")
        if value < low or (low_open and value == low) or value >= high:
            lo = "(" if low_open else "["
            hi = f"{high:g})" if math.isfinite(high) else "inf)"
            raise argparse.ArgumentTypeError(f"{text} is outside {lo}{low:g}, {hi}{hint}")
        return value

    parse.__name__ = "finite number"
    return parse


def probability(text: str) -> float:
    """argparse type: a finite probability in [0, 1) (a dropout of 1 drops everything)."""
    return finite_float(0.0, 1.0, hint=" (a probability: 0 <= p < 1)")(text)


def int_list(low: int, high: int | None = None) -> Callable[[str], list[int]]:
    """argparse type: a non-empty comma list of integers in [low, high]."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of integers, e.g. 1,2") from None
        span = f"{low}..{high}" if high is not None else f">= {low}"
        if not values or any(v < low or (high is not None and v > high) for v in values):
            raise argparse.ArgumentTypeError(f"{text!r}: give a comma list of integers {span}")
        return values

    parse.__name__ = "integer list"
    return parse


def float_list(low: float = 0.0) -> Callable[[str], list[float]]:
    """argparse type: a non-empty comma list of finite numbers >= ``low``."""

    def parse(text: str) -> list[float]:
        one = finite_float(low)
        try:
            values = [one(v) for v in text.split(",") if v.strip()]
        except argparse.ArgumentTypeError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: give a comma list of finite numbers >= {low:g}, e.g. 5,25")
        return values

    parse.__name__ = "number list"
    return parse


def name_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """argparse type: a non-empty comma list of names, each one of ``choices``."""

    def parse(text: str) -> list[str]:
        names = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [n for n in names if n not in choices]
        if not names or unknown:
            raise argparse.ArgumentTypeError(
                f"{', '.join(map(repr, unknown or [text]))}: give a comma list of {', '.join(choices)}"
            )
        return names

    parse.__name__ = "name list"
    return parse


def existing_path(kind: str = "any") -> Callable[[str], str]:
    """argparse type: a path that exists here, a regular file (``kind="file"``) or a folder (``"dir"``)."""
    noun = {"file": "a file", "dir": "a folder", "any": "a file or folder"}[kind]

    def parse(text: str) -> str:
        path = Path(text).expanduser()
        ok = path.is_file() if kind == "file" else path.is_dir() if kind == "dir" else path.exists()
        if not text or not ok:
            what = "does not exist" if not path.exists() else f"is not {noun}"
            raise argparse.ArgumentTypeError(f"{text!r} {what}; give {noun} that exists")
        return text

    parse.__name__ = kind
    return parse


def folder(text: str) -> str:
    """argparse type: a folder, or a path where one can be made; not a file (nor under one)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder (it is created if missing)")
    path = Path(text).expanduser()
    for p in [path, *path.parents]:
        if p.exists():
            if not p.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{text}: {p} is a file, not a folder; give a folder (it is created if missing)"
                )
            break
    return text


def output_file(text: str) -> str:
    """argparse type: a file to write: not a folder, and not under a file."""
    path = Path(text).expanduser()
    if not text.strip() or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is {'a folder' if text.strip() else 'empty'}; give a file name")
    folder(str(path.parent))
    return text


_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


def device_name(text: str) -> str:
    """argparse type: the spelling of a device (cpu, cuda, cuda:N, mps); whether this machine has it
    is ``check_device``'s question, after torch is loaded."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda or cuda:N")
    return text


_RAY_ADDRESS = re.compile(r"(?:ray://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


def ray_address(text: str) -> str:
    """argparse type: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (the forms ``ray.init`` joins)."""
    m = _RAY_ADDRESS.fullmatch(text)
    if text != "auto" and not (m and 0 < int(m.group(2)) < 65536):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Ray address; give auto (with $RAY_ADDRESS or a local `ray start`), "
            f"HOST:PORT (the head's GCS port) or ray://HOST:PORT (Ray Client)"
        )
    return text


_DECORATORS = {
    "pool": ("pools", "register_pool"),
    "model": ("models", "register_model"),
    "dataset": ("data", "register_dataset"),
}


@functools.cache
def declared(kind: str) -> tuple[str, ...]:
    """Every registered pool, model or dataset name, read from the package's source (not imported)."""
    import importlib.util

    from ..registry import declared_names

    package, decorator = _DECORATORS[kind]
    spec = importlib.util.find_spec(f"poolbench.{package}")  # imports poolbench only, not the package
    return tuple(declared_names(spec.submodule_search_locations or [] if spec else [], decorator))


def registered_name(kind: str) -> Callable[[str], str]:
    """argparse type: a registered ``kind`` name (models and datasets in poolbench's spelling, see
    ``_args.ALIASES``), checked before torch loads."""

    def parse(text: str) -> str:
        from ._args import canonical_name

        name = text.strip() if kind == "pool" else canonical_name(text)
        valid = declared(kind)
        if valid and name not in valid:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind}; use one of {', '.join(valid)}")
        return name

    parse.__name__ = kind
    return parse


def registered_names(kind: str) -> Callable[[str], list[str]]:
    """argparse type: a non-empty comma list of registered ``kind`` names."""

    def parse(text: str) -> list[str]:
        names = [registered_name(kind)(t) for t in text.split(",") if t.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"{text!r}: give a comma list of {kind}s")
        return names

    parse.__name__ = f"{kind} list"
    return parse


# ----------------------------------------------------------------------------- single flags
def check_local_paths(args: argparse.Namespace, flags: Sequence[str]) -> None:
    """With the local executor, each path ``flags`` name must exist here; a Ray cluster's nodes may
    hold files the driver does not, so there the runs decide."""
    if getattr(args, "executor", "local") != "local":
        return
    for flag in flags:
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value and not Path(value).expanduser().exists():
            raise bad(
                flag,
                value,
                "does not exist",
                "give a path that exists (or run with --executor ray, where the nodes read it)",
            )


def check_device(text: str | None) -> None:
    """--device: a device torch knows and this machine has."""
    if text is None:
        return
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise bad("--device", text, "not a device torch knows", "use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise bad("--device", text, "CUDA is not available on this machine", "use --device cpu (or leave it out)")
        if dev.index is not None and dev.index >= n:
            raise bad("--device", text, f"this machine has {n} CUDA device(s)", f"use cuda:0 .. cuda:{n - 1}")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise bad("--device", text, "MPS is not available on this machine", "use --device cpu")
    elif dev.type != "cpu":
        raise bad("--device", text, f"poolbench trains on cpu, cuda or mps, not {dev.type}", "use cpu or cuda")


def check_runs_dir(text: str) -> None:
    """--runs-dir: a folder (or a path where one can be made), not a file."""
    path = Path(text).expanduser()
    for p in [path, *path.parents]:
        if p.exists():
            if not p.is_dir():
                raise bad(
                    "--runs-dir", text, f"{p} is a file, not a folder", "give a folder (it is created if missing)"
                )
            break


def check_dataset(name: str, flag: str = "--dataset") -> None:
    from ..data import list_datasets

    if name not in list_datasets():
        raise bad(flag, name, "unknown dataset", f"use one of {', '.join(list_datasets())}")


def parse_sac_stages(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        stages = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise bad("--sac-stages", text, "not a comma list of stage numbers", "e.g. --sac-stages 1,2") from None
    if not stages or min(stages) < 1:
        raise bad("--sac-stages", text, "stages are numbered from 1", "e.g. --sac-stages 1,2")
    return stages


def check_kv_item(item: str, flag: str) -> None:
    """KEY=VALUE with a key and, where VALUE looks like JSON ([...], {...}, "..."), valid JSON."""
    import json

    key, eq, value = item.partition("=")
    key = key.rpartition(":")[2] if flag == "--pool-arg" else key
    if not eq or not key.strip():
        raise bad(flag, item, "expected KEY=VALUE", f"e.g. {flag} p=3")
    value = value.strip()
    if value[:1] in '[{"':
        try:
            json.loads(value)
        except ValueError as e:
            raise bad(
                flag, item, f"the value is not valid JSON ({e})", "quote it for the shell, e.g. 'p=[1, 2]'"
            ) from None


# ----------------------------------------------------------------------------- whole configs
def _shown(value: Any) -> str:
    """A field's value as the command line spells it: a list as 1,2; a dict as k=v pairs."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    return "(not given)" if value is None else str(value)


def usage_error(problem: Any) -> UsageError:
    """A ``train.preflight`` problem as one line naming the flag that set its field (``cli/_flags.py``)."""
    from ._flags import KEY_VALUE_FLAGS, flag_of

    flag, rest = flag_of(problem.field)
    value = _shown(problem.value)
    if flag == "--surgery" and rest:  # NAME[.KEY]: shown as --surgery takes it, NAME:KEY=VALUE
        name, _, key = rest.partition(".")
        value = f"{name}:{key}={value}" if key else f"{name}:{value}"
    elif flag in KEY_VALUE_FLAGS and rest:  # the one KEY=VALUE that is at fault
        value = f"{rest}={value}"
    return bad(flag, value, problem.problem, problem.fix)


def check_pool_args(pool: Any, channels: int, pool_args: dict[str, Any], name: str) -> None:
    """The pool alone, built with ``pool_args`` for ``channels``: an argument it does not take, or a
    value it cannot be built with, named as the --pool-arg that gave it."""
    from ..train.preflight import pool_args_problems

    problems = pool_args_problems(pool, channels, pool_args, name)
    if problems:
        raise usage_error(problems[0])


def check_config(config: Any) -> None:
    """``train.preflight.preflight``'s first problem with ``config``, as the flag that set it."""
    from ..train.preflight import preflight

    problems = preflight(config)
    if problems:
        raise usage_error(problems[0])


def check_data(configs: Sequence[Any]) -> None:
    """Load each distinct dataset of ``configs`` (the runs would) and check the sizes asked of it.

    A dataset this machine does not hold is left to the runs (they download CIFAR; a Ray cluster's
    nodes may hold data the driver does not): nothing is downloaded to validate."""
    from ..data import DatasetNotFoundError, load_dataset
    from ..train.data import check_split_sizes

    seen = set()
    for c in configs:
        key = (c.dataset, c.data_path, c.data_dir, c.val_split, c.protocol.train_subset, c.protocol.test_subset)
        if key in seen:
            continue
        seen.add(key)
        try:
            ds = load_dataset(c.dataset, data_path=c.data_path, data_dir=c.data_dir, download=False)
        except DatasetNotFoundError:
            continue
        check_split_sizes(c.data_selection(), len(ds.train_y), len(ds.test_y))


def validate_configs(
    configs: Iterable[Any], device: str | None = None, runs_dir: str | None = None, data: bool = True
) -> None:
    """Everything the runs of ``configs`` need, checked before any of them starts (``data=False``:
    all but the sizes asked of the datasets, which needs them loaded)."""
    import json

    configs = list(configs)
    check_device(device)
    if runs_dir is not None:
        check_runs_dir(runs_dir)
    seen = set()
    for c in configs:
        d = c.to_dict()
        key = json.dumps([d[k] for k in ARCHITECTURE], sort_keys=True, default=str)
        if key not in seen:  # one build per distinct architecture, not per seed
            seen.add(key)
            check_config(c)
    if data:
        check_data(configs)


#: The fields a run's model is built from: configs equal in them are checked once.
ARCHITECTURE = ("dataset", "model", "pool", "pool_file", "pool_args", "model_args", "surgery", "sac", "pool_reg")
