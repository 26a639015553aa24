"""Argument helpers shared by the run, sweep and demo commands."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ..runs import default_runs_dir
from ..train import Protocol, RunConfig
from ..train.config import pool_fields
from ..train.protocol import BENCHMARK_SEEDS
from ..train.surgery import list_surgeries
from ._validate import (
    bad,
    check_kv_item,
    device_name,
    existing_path,
    finite_float,
    folder,
    int_at_least,
    parse_sac_stages,
)

#: the registered surgery (``train/surgery.py``), for --surgery's help
SURGERY = list_surgeries()

#: --seeds of run and sweep: the benchmark's three published seeds
DEFAULT_SEEDS = ",".join(map(str, BENCHMARK_SEEDS))

#: Other spellings of model and dataset names (the cv-pooling-aggregation benchmark's command line
#: and common ones) -> poolbench's. The one table: run, sweep, harness and demo all read it.
ALIASES: dict[str, str] = {
    "vgg16bn": "vgg16_bn",
    "vgg16-bn": "vgg16_bn",
    "fmnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "fashion-mnist": "fashion_mnist",
}


def canonical_name(text: str) -> str:
    """argparse type for model and dataset names: poolbench's spelling (see ``ALIASES``), lower case."""
    name = text.strip().lower()
    return ALIASES.get(name, name)


#: --threads when not given: see add_threads_arg
DEFAULT_THREADS = "auto"


def threads_arg(text: str) -> int | str:
    """argparse type for --threads: ``auto`` or an integer >= 1."""
    return "auto" if text == "auto" else int_at_least(1, " (or auto)")(text)


def auto_threads() -> int:
    """One torch thread per core that is not already busy: the cores less the 1-minute load average,
    rounded, at least 1 (all the cores on an idle machine, 1 on a shared one)."""
    import os

    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform: assume idle
        busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=threads_arg,
        default=DEFAULT_THREADS,
        help="torch CPU threads, or auto (the default): one per core not already busy (cores minus the 1-minute "
        "load average, at least 1). Why not torch's own default, one thread per core: measured with poolbench "
        "bench on a 2-core CPU (benchmarks/results/threads-2026-12-07-cpu.md), 2 threads trained ResNet-20 2x "
        "faster than 1 at load 2-4 but 2x slower and erratic (up to 10x per round) with the cores shared, load 6-8",
    )


def apply_threads(args: argparse.Namespace) -> None:
    """torch.set_num_threads(--threads), inside a command's func (torch is loaded there anyway)."""
    import torch

    torch.set_num_threads(auto_threads() if args.threads == "auto" else args.threads)


def parse_seeds(text: str) -> list[int]:
    """argparse type for seed lists ('0-4', '0,2,5'): ``sweep.parse_seeds`` with argparse's error."""
    from ..sweep import parse_seeds as _parse

    try:
        return _parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, '[1,2]' -> [1, 2], anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text


def parse_kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        check_kv_item(item, flag)
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(v.strip())
    return out


def kv_pair(flag: str):
    """argparse type: one KEY=VALUE of ``flag``, as ``{key: value}``."""

    def parse(text: str) -> dict[str, Any]:
        try:
            return parse_kv([text], flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "KEY=VALUE"
    return parse


def add_protocol_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("protocol (any override marks the run non-standard)")
    g.add_argument(
        "--preset",
        help="a seed paper's named protocol (non-standard), e.g. birodkar2019-cnn-cifar; "
        "the flags below override its values",
    )
    g.add_argument("--epochs", type=int_at_least(1, " (the protocol's is 200)"), help="default 200")
    g.add_argument("--batch-size", type=int_at_least(1, " (the protocol's is 128)"), help="default 128")
    g.add_argument("--lr", type=finite_float(0.0, low_open=True, hint=" (the protocol's is 0.1)"), help="default 0.1")
    g.add_argument("--train-subset", type=int_at_least(1), help="train on a fixed, seed-independent subset of N images")
    g.add_argument("--test-subset", type=int_at_least(1), help="test on a fixed subset of N images")
    g.add_argument(
        "--val-split", type=int_at_least(0), default=0, help="hold out N training images as a validation set"
    )
    g.add_argument(
        "--amp",
        choices=["none", "bf16"],
        default="none",
        help="bf16 autocast inside forward/backward only; fp32 weights and optimizer state",
    )


def protocol_from_args(args: argparse.Namespace, **base: Any) -> Protocol:
    """The standard protocol (or ``base``, e.g. a paper's preset) with the flags given on top."""
    over = {
        k: getattr(args, a)
        for k, a in (
            ("epochs", "epochs"),
            ("batch_size", "batch_size"),
            ("lr", "lr"),
            ("train_subset", "train_subset"),
            ("test_subset", "test_subset"),
        )
        if getattr(args, a, None) is not None
    }
    if getattr(args, "preset", None):
        from ..train.presets import list_presets, preset

        if args.preset not in list_presets():
            raise bad("--preset", args.preset, "no such protocol preset", f"use one of {', '.join(list_presets())}")
        return preset(args.preset, **{**base, **over})
    return Protocol(**{**base, **over})


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-path",
        type=existing_path(),
        help="an image-folder directory or .tar(.gz) for --dataset imagefolder",
    )
    p.add_argument("--data-dir", type=folder, help="where official archives live / are downloaded (default ./data)")
    p.add_argument(
        "--runs-dir",
        type=folder,
        default=str(default_runs_dir()),
        help="where run directories go (default: %(default)s)",
    )
    p.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def _lda_layers(text: str):
    """'2' -> 2, '3,1' -> [3, 1] (argparse type)."""
    try:
        layers = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lda-layer takes layer numbers like 2 or 3,1, got {text!r}") from None
    return layers[0] if len(layers) == 1 else layers


def csv_log_folder(text: str) -> str:
    """--log-csv: a folder (made when missing), never a file or a link (fileio writes into neither);
    absolute, as a worker elsewhere sees it."""
    path = Path(text).absolute()
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise argparse.ArgumentTypeError(
            f"{text} is {'a link' if path.is_symlink() else 'a file'}, not a folder; "
            "name a folder for the CSV logs (it is made when missing)"
        )
    return str(path)


def add_log_csv_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-csv",
        metavar="DIR",
        type=csv_log_folder,
        help="also write each run's epochs to DIR/<run id>/metrics.csv (one row per epoch, the columns "
        "and values of its metrics.jsonl), for a spreadsheet or pandas",
    )


def callbacks_from_args(args: argparse.Namespace) -> list[Any]:
    """The training callbacks the flags ask for (``train.callbacks``), beyond the run's own
    recorder and progress output."""
    if args.log_csv is None:
        return []
    from ..train.callbacks import CsvLogger

    return [CsvLogger(args.log_csv)]


def add_check_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-check",
        action="store_true",
        help="train even if the pool fails the contract check (poolbench check) that runs first",
    )


def refuse_failing_pools(configs: list[RunConfig], command: str) -> bool:
    """Check each distinct pool (with its arguments) on what the runs of ``configs`` meet: their
    models' widths and map sizes, bf16 only for bf16 runs (``train.preflight.contract_check``). Print
    the table of each failing pool and return False when any fails (the caller exits 2). A pool
    that passes gets one warning line naming the benchmark's columns outside these runs where it
    would fail (``benchmark_hazards``): they are not a reason to refuse these runs."""
    import sys

    from ..train.label import pool_label
    from ..train.preflight import benchmark_hazards, contract_check

    def pool_key(cfg: RunConfig) -> tuple:
        return (cfg.pool, json.dumps(cfg.pool_args, sort_keys=True, default=str), cfg.pool_file, cfg.pool_file_sha)

    seen, ok, failed = set(), True, set()
    models: dict[tuple, set[str]] = {}
    for cfg in configs:
        models.setdefault(pool_key(cfg), set()).add(cfg.model)
        key = (pool_key(cfg), cfg.model, cfg.amp, json.dumps(cfg.sac, sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        report = contract_check(cfg)
        if not report.passed:
            ok = False
            failed.add(pool_key(cfg))
            print(report.format_table(), file=sys.stderr)
            print(
                f"poolbench {command}: the pool fails the contract on what this run meets ({report.target}); "
                f"fix it (poolbench check shows every map size) or pass --no-check to train it anyway",
                file=sys.stderr,
            )
    for key, covered in models.items():
        if key in failed:
            continue
        cfg = next(c for c in configs if pool_key(c) == key)
        hazards = benchmark_hazards(cfg, covered)
        if hazards:
            columns = ", ".join(column for column, _ in hazards)
            print(
                f"poolbench {command}: warning: {pool_label(cfg.to_dict())} fails the contract on the benchmark's "
                f"{columns} column{'s' if len(hazards) > 1 else ''}, which these runs do not use "
                f"({hazards[0][1]}); poolbench check shows every map size",
                file=sys.stderr,
            )
    return ok


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model extras (part of the run's identity)")
    g.add_argument("--model-arg", action="append", metavar="K=V", help="extra model keyword, repeatable")
    g.add_argument(
        "--drop-rate", type=finite_float(0.0, 1.0), help="dropout before the classifier (FlexPooling ablation)"
    )
    g.add_argument(
        "--lda-layer",
        type=_lda_layers,
        help="replace this stride-2 downsampling (1, 2, 3) by closed-form learned pooling "
        "(Birodkar et al. 2019); several: 3,1",
    )
    g.add_argument("--lda-weights", help="weights file for --lda-layer (from poolbench fit-lda); several: F3,F1")
    g.add_argument(
        "--surgery",
        action="append",
        metavar="NAME:K=V",
        help="a paper's change to the built model, one argument per flag, repeatable (e.g. "
        "sgd_downsample:layer=2; --lda-layer/--lda-weights are lda_downsample's); surgery: " + ", ".join(SURGERY),
    )
    g.add_argument("--sac", action="store_true", help="simple auxiliary classifiers after every stage but the last")
    g.add_argument("--sac-stages", help="comma list of stages (1-based) that get an auxiliary classifier")
    g.add_argument(
        "--sac-weights",
        help="loss weights, auxiliary heads in stage order then main: 'paper' "
        "(0.1,0.2,0.7, the default, the paper's Eq. 3), 'code' (0.01,0.11,0.88, "
        "the authors' code) or a comma list",
    )
    g.add_argument(
        "--pool-reg",
        type=finite_float(0.0),
        help="coefficient of the paper's R on raw flex weights (--pool-arg weighting=raw), added to the loss",
    )


def surgery_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], ...]:
    """``RunConfig.surgery`` from --lda-layer / --lda-weights and each --surgery NAME:K=V (one
    entry per surgery, in the order first named)."""
    entries: dict[str, dict[str, Any]] = {}
    if args.lda_layer is not None:
        entries.setdefault("lda_downsample", {})["layer"] = args.lda_layer
    if args.lda_weights is not None:
        files = args.lda_weights.split(",")
        entries.setdefault("lda_downsample", {})["weights"] = files[0] if len(files) == 1 else files
    for item in getattr(args, "surgery", None) or []:
        name, colon, kv = item.partition(":")
        if not colon or not name.strip():
            raise bad(
                "--surgery",
                item,
                "expected NAME:KEY=VALUE",
                f"e.g. --surgery sgd_downsample:layer=2 ({', '.join(SURGERY)})",
            )
        entries.setdefault(name.strip(), {}).update(parse_kv([kv], "--surgery"))
    return tuple({"name": name, "args": a} for name, a in entries.items())


def model_extras_from_args(args: argparse.Namespace) -> dict[str, Any]:
    model_args = parse_kv(args.model_arg, "--model-arg")
    if args.drop_rate is not None:
        model_args["drop_rate"] = args.drop_rate
    sac: dict[str, Any] | None = None
    if args.sac or args.sac_stages or args.sac_weights is not None:
        from ..models.aux import DEFAULT_WEIGHTS, WEIGHT_PRESETS

        sac = {}
        if args.sac_stages:
            sac["stages"] = parse_sac_stages(args.sac_stages)
        # the numbers, never a preset's name, go into the config: they are what the run means
        spec = args.sac_weights or DEFAULT_WEIGHTS
        try:
            sac["weights"] = (
                list(WEIGHT_PRESETS[spec]) if spec in WEIGHT_PRESETS else [float(w) for w in spec.split(",")]
            )
            if not all(math.isfinite(w) and w >= 0 for w in sac["weights"]):
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--sac-weights {spec}: expected {' or '.join(WEIGHT_PRESETS)} or a comma list of finite numbers >= 0"
            ) from None
    return {"model_args": model_args, "surgery": surgery_from_args(args), "sac": sac, "pool_reg": args.pool_reg}


def absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else path


def config_from_args(args: argparse.Namespace, pool: str, seed: int, **overrides: Any) -> RunConfig:
    kw: dict[str, Any] = dict(
        model=args.model,
        dataset=args.dataset,
        pool=pool,
        pool_args=parse_kv(getattr(args, "pool_arg", None), "--pool-arg"),
        seed=seed,
        protocol=protocol_from_args(args),
        val_split=args.val_split,
        amp=args.amp,
        # stored absolute (not part of the id), so show/robustness/fit-lda work from any folder
        data_path=absolute(args.data_path),
        data_dir=absolute(args.data_dir),
        channels_last=getattr(args, "channels_last", False),
        compile=getattr(args, "compile", False) or bool(getattr(args, "compile_mode", None)),
        compile_mode=getattr(args, "compile_mode", None),
    )
    if getattr(args, "pool_file", None):
        try:
            kw.update(pool_fields(args.pool_file))
        except ValueError as exc:
            raise bad("--pool-file", args.pool_file, str(exc), "give path/to/file.py[:ClassName]") from None
    kw.update(model_extras_from_args(args))
    kw.update(overrides)
    return RunConfig(**kw)
