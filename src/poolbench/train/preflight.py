"""What a run is checked for before it trains: ``preflight`` (can its configuration be built at
all?) and the contract check (is its pool sound on what this run meets?).

``preflight(config) -> [Problem]`` is the one check of a configuration, used by the command line
(``cli/_validate.py``, which names each problem's flag) and by ``train_run`` (which refuses a run
with problems before its run directory exists): unknown names, arguments a model, pool or surgery
does not take (read from their signatures and declarations), missing weights files, then one build
of the model, whose ``BuildError`` names the field at fault (``train.build.build_model``).

A pool that breaks the contract (NaN on a 1x1 map, an output wider than it says) would otherwise
train for an epoch and end as "diverged", or stop in a shape error deep in the classifier. The check
is ``pools.check.check_pool`` on the run's pool and pool arguments, at the channel count of the
run's model, on the map sizes this run's pool sees (the model's final map at 32x32, and the
stages that feed SAC's auxiliary heads), with the bf16 autocast row only for a bf16 run, and
without the slow, non-fatal compile and ONNX rows. What the run cannot meet is not a reason to
refuse it: a pool that is NaN only on 1x1 maps trains on ResNet-20's 8x8. ``benchmark_hazards``
checks the benchmark's columns this run does not cover, for a one-line warning.
"""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any, cast

from ..build_error import BuildError, Problem
from ..pools.check import CheckReport, check_pool
from .config import RunConfig
from .label import pool_label
from .surgery import get_surgery, list_surgeries, surgery_problems

IMAGE_SIZE = 32  # every poolbench dataset reaches the model as 32x32 (28x28 ones are padded)


@cache
def model_width(model: str) -> int:
    """Channels of the model's final feature map (what the pool sees)."""
    from ..models import create_model
    from ..models.head import PooledClassifier

    return int(cast(PooledClassifier, create_model(model, num_classes=10)).num_features)  # every zoo model is one


@cache
def stage_map_sizes(model: str) -> tuple[tuple[int, int], ...]:
    """(H, W) of every stage's output for a 32x32 input, the last being the pool's map (meta device:
    shapes only)."""
    import torch

    from ..models import create_model
    from ..models.head import PooledClassifier

    with torch.device("meta"):
        built = cast(PooledClassifier, create_model(model, num_classes=10).eval())
        stages = built.forward_stages(torch.empty(2, 3, IMAGE_SIZE, IMAGE_SIZE))
    return tuple((int(s.shape[-2]), int(s.shape[-1])) for s in stages)


def run_map_sizes(config: RunConfig) -> tuple[tuple[int, int], ...]:
    """The map sizes the run's pool sees: the final map, and each SAC head's stage map (SAC builds
    its heads from the main pool's class; default stages: every stage but the last)."""
    sizes = stage_map_sizes(config.model)
    maps = [sizes[-1]]
    if config.sac is not None:
        stages = config.sac.get("stages") or range(1, len(sizes))
        maps += [sizes[s - 1] for s in stages if 0 < s <= len(sizes)]
    return tuple(dict.fromkeys(maps))


def pool_target(config: RunConfig) -> Any:
    if config.pool_file:
        from ..pools.loader import load_pool_file

        return load_pool_file(config.pool_file)
    return config.pool


def _maps_text(maps) -> str:
    return ", ".join(f"{h}x{w}" for h, w in maps) + f" map{'s' if len(maps) > 1 else ''}"


def contract_check(config: RunConfig) -> CheckReport:
    """The contract for ``config``'s pool on what this run meets: its model's width and map sizes,
    bf16 autocast only when the run uses it. The report's target names the pool and what was checked."""
    maps = run_map_sizes(config)
    report = check_pool(
        pool_target(config),
        channels=(model_width(config.model),),
        maps=maps,
        compile=False,
        onnx=False,
        pool_args=dict(config.pool_args),
    )
    if config.amp != "bf16":  # an fp32 run never autocasts: that row is not this run's hazard
        report.rows = [r for r in report.rows if r.name != "bf16 autocast"]
    dtype = "bf16 autocast" if config.amp == "bf16" else "fp32"
    report.target = (
        f"{pool_label(config.to_dict())} on {config.model} (C={model_width(config.model)}, {_maps_text(maps)}, {dtype})"
    )
    return report


def benchmark_hazards(config: RunConfig, covered_models: set[str]) -> list[tuple[str, str]]:
    """[(column, why)] for each of the benchmark's columns (``suites``) whose model is not in
    ``covered_models`` and on which ``config``'s pool fails the contract (fp32, as the benchmark
    trains): what a warning names, since this run does not meet it. A column whose model has the
    same width and map as one covered is not checked again."""
    from ..suites import get_suite

    covered = {(model_width(m), run_map_sizes(config.replace(model=m, sac=None))[0]) for m in covered_models}
    out = []
    for model, dataset in get_suite("benchmark").columns:
        if model in covered_models:
            continue
        shape = (model_width(model), stage_map_sizes(model)[-1])
        if shape in covered:
            continue
        column = config.replace(model=model, dataset=dataset, sac=None, amp="none", model_args={})
        try:
            report = contract_check(column)
        except ValueError as exc:  # built for this run's width (fitted LDA weights): cannot be built there at all
            out.append((f"{model}/{dataset} ({_maps_text([shape[1]])})", f"cannot be built: {exc}"))
            continue
        if not report.passed:
            names, row = report.grouped(report.failures(fatal_only=True))[0]
            out.append((f"{model}/{dataset} ({_maps_text([shape[1]])})", f"{names}: {row.detail.split('; ')[0]}"))
    return out


# ----------------------------------------------------------------------------- preflight
def arguments_of(factory: Any, leave_out: tuple[str, ...] = ()) -> list[str] | None:
    """The keyword arguments ``factory`` takes (None when it takes any: ``**kwargs`` or no signature)."""
    import torch

    if isinstance(factory, type) and cast(Any, factory).__init__ is torch.nn.Module.__init__:
        return []  # no __init__ of its own (a pool without arguments): Module's **kwargs takes none
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return [n for n, p in params.items() if n not in ("self", *leave_out) and p.kind is not p.VAR_POSITIONAL]


#: What build_model passes a model builder itself: never a model argument of the run.
BUILD_ARGUMENTS = ("num_classes", "in_chans", "pool", "pool_args", "init")


def model_arguments(builder: Any) -> list[str] | None:
    """The keyword arguments a registered model builder takes: its own, and where it passes
    ``**kw`` on to the class it returns (its return annotation), the class's keyword arguments
    (those with a default; the builder sets the others, e.g. a ResNet's depth)."""
    takes = arguments_of(builder, BUILD_ARGUMENTS)
    if takes is not None:
        return takes
    try:
        cls = inspect.signature(builder, eval_str=True).return_annotation
        params = inspect.signature(cls).parameters if isinstance(cls, type) else None
    except (NameError, TypeError, ValueError):
        return None
    if params is None or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    own = inspect.signature(builder).parameters
    return [n for n in own if n not in BUILD_ARGUMENTS and own[n].kind is own[n].POSITIONAL_OR_KEYWORD] + [
        n for n, p in params.items() if n not in BUILD_ARGUMENTS and p.default is not p.empty
    ]


def unknown_arguments(
    factory: Any, given: dict[str, Any], field: str, name: str, leave_out=(), takes: list[str] | None = None
) -> list[Problem]:
    """A problem per key of ``given`` that ``factory`` does not take (or, given, not in ``takes``), at ``field.KEY``."""
    takes = arguments_of(factory, leave_out) if takes is None else takes
    if takes is None:
        return []
    listed = ", ".join(takes) or "none"
    return [
        Problem(f"{field}.{k}", v, f"{name} takes no argument {k!r}", f"its arguments are: {listed}")
        for k, v in given.items()
        if k not in takes
    ]


def pool_args_problems(pool: Any, channels: int, pool_args: dict[str, Any], name: str) -> list[Problem]:
    """The pool alone, built with ``pool_args`` for ``channels``: an argument it does not take, or a
    value it cannot be built with (``pool_args``)."""
    from ..pools import build_pool, get_pool_class

    factory = get_pool_class(pool) if isinstance(pool, str) else pool
    problems = unknown_arguments(factory, pool_args, "pool_args", name, leave_out=("channels",))
    if problems:
        return problems
    try:
        build_pool(pool, channels, **pool_args)
    except Exception as e:  # noqa: BLE001 - any failure of the constructor, with its own words
        takes = ", ".join(arguments_of(factory, ("channels",)) or []) or "none"
        return [
            Problem(
                "pool_args",
                dict(pool_args),
                f"{name} cannot be built with it ({type(e).__name__}: {e})",
                f"fix the value ({name}'s arguments: {takes})",
            )
        ]
    return []


def _names_problems(config: RunConfig) -> tuple[list[Problem], Any]:
    """Unknown dataset, model or pool (or a pool file that does not import); the pool to build."""
    from ..data import list_datasets
    from ..models import list_models
    from ..pools import is_pool, list_pools

    out = []
    if config.dataset not in list_datasets():
        out.append(Problem("dataset", config.dataset, "unknown dataset", f"valid names: {', '.join(list_datasets())}"))
    if config.model not in list_models():
        out.append(Problem("model", config.model, "unknown model", f"valid names: {', '.join(list_models())}"))
    pool: Any = None
    if config.pool_file:
        from ..pools.loader import load_pool_file

        try:
            pool = load_pool_file(config.pool_file)
        except Exception as e:  # noqa: BLE001 - an import error in the user's file, named
            problem = getattr(e, "one_line", f"{type(e).__name__}: {e}")  # a PoolFileError says where, in one line
            out.append(Problem("pool_file", config.pool_file, problem, "fix the path or the file"))
    elif not is_pool(config.pool):
        out.append(Problem("pool", config.pool, "unknown pool", f"valid names: {', '.join(list_pools())}"))
    else:
        pool = config.pool
    return out, pool


def _weight_file_problems(config: RunConfig) -> list[Problem]:
    """A weights file (a pool's ``weights`` argument, a surgery's weights) that is not a file here."""
    out = []
    given = config.pool_args.get("weights")
    files = [("pool_args.weights", given)] if isinstance(given, (str, Path)) else []
    for e in config.surgery:
        if not isinstance(e, dict) or e.get("name") not in list_surgeries():
            continue  # surgery_problems names it
        s = get_surgery(e["name"])
        for a in s.args:
            value = e.get("args", {}).get(a.name)
            if a.weight_file and value is not None:
                for path in value if isinstance(value, (list, tuple)) else [value]:
                    files.append((f"surgery.{s.name}.{a.name}", path))
    for field, path in files:
        if path and not Path(path).is_file():
            out.append(
                Problem(
                    field,
                    path,
                    "no such file",
                    "write it with poolbench fit-lda RUN --layer N --out FILE, or fix the path",
                )
            )
    return out


def _sac_problems(config: RunConfig) -> list[Problem]:
    from ..models.aux import with_aux_classifiers

    if config.sac is None:
        return []
    if not isinstance(config.sac, dict):
        return [Problem("sac", config.sac, "not a dict of SAC's arguments", 'e.g. {"stages": [1, 2]}')]
    return unknown_arguments(with_aux_classifiers, config.sac, "sac", "SAC", leave_out=("model", "pool_reg"))


def _surgery_hint(problem: Problem) -> Problem:
    """An unknown model argument that is a surgery's argument under the name runs stored it by
    (``lda_layer``): the problem says where it goes now."""
    key = problem.field.rpartition(".")[2]
    for name in list_surgeries():
        for a in get_surgery(name).args:
            if a.stored_as == key:
                fix = f"{problem.fix}; {key} is the {name} surgery's {a.name} (RunConfig.surgery)"
                return Problem(problem.field, problem.value, problem.problem, fix)
    return problem


def preflight(config: RunConfig, in_chans: int = 3, num_classes: int = 10, build: bool = True) -> list[Problem]:
    """Everything in ``config`` that keeps its model from being built, each as a ``Problem`` naming
    the field: no I/O but reading the files it names, nothing trained or written. The build (for
    ``in_chans`` channels, ``num_classes`` classes, 32x32; the global RNG untouched) runs only once
    the names and arguments are known to be good, so one wrong value is one problem;
    ``build=False`` leaves it to a caller that builds the model next anyway (``train_run``)."""
    import types

    import torch

    from ..models import get_model_builder, list_models
    from ..pools import get_pool_class

    problems, pool = _names_problems(config)
    if config.model in list_models():
        builder = get_model_builder(config.model)
        takes = model_arguments(builder)
        problems += [
            _surgery_hint(p)
            for p in unknown_arguments(builder, config.model_args, "model_args", config.model, takes=takes)
        ]
    if pool is not None:
        name = config.pool_file or config.pool
        factory = pool if not isinstance(pool, str) else get_pool_class(pool)
        problems += unknown_arguments(factory, config.pool_args, "pool_args", name, leave_out=("channels",))
    problems += surgery_problems(config.surgery)
    problems += _sac_problems(config)
    problems += _weight_file_problems(config)
    if problems or not build:
        return problems
    from .build import build_model

    try:
        with torch.random.fork_rng():  # build_model seeds the global RNG
            build_model(config, cast(Any, types.SimpleNamespace(num_classes=num_classes, in_chans=in_chans)))
    except BuildError as e:
        p = e.problem
        return [Problem(p.field, p.value, f"{config.model}: {p.problem}", p.fix)]
    return []
