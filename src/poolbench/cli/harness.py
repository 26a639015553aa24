"""``poolbench harness POOL_FILE --arch A --dataset D --seed S``: the benchmark's own command line.

The cv-pooling-aggregation benchmark runs a submission as
``python custom_pool.py --arch resnet20 --dataset cifar10 --seed 42``; this is that command on
poolbench's engine (the fixed protocol, resumable run directories, the contract check first).
Like the benchmark, it builds the pool class with no arguments (``CustomPool()``) and refuses one
that cannot be built so. Its names are mapped to poolbench's (``vgg16bn`` -> ``vgg16_bn``,
``fmnist`` -> ``fashion_mnist``: the one spelling table, ``_args.ALIASES``, which ``run`` and
``sweep`` read too);
``python -m poolbench.harness`` and a pool file's own ``__main__`` (see examples/custom_pool.py)
call the same function.

Where the data is: ``--data-dir`` or ``--data-path`` when given; else ``$POOLBENCH_DATA_DIR``;
else the first of ``./data`` and ``../shared/data`` (the machines' shared copy, relative to the
folder the command runs in) that holds the dataset; else ``./data``, where CIFAR is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..runs import default_runs_dir
from ._args import absolute, add_check_arg, add_threads_arg, apply_threads, refuse_failing_pools
from ._validate import device_name, existing_path, folder, int_at_least, one_line_error, registered_name

#: where the harness looks for the data when no --data-dir / --data-path is given (after $POOLBENCH_DATA_DIR)
DATA_DIR_ENV = "POOLBENCH_DATA_DIR"
SEARCHED = ("data", "../shared/data")


def default_data_dir(dataset: str) -> str | None:
    """The --data-dir the harness uses when none is given (None: the reader's ./data); says so in
    one line when the dataset is in none of the folders searched."""
    from ..data.datasets import GENERATED, find_data_dir

    if os.environ.get(DATA_DIR_ENV):
        return os.environ[DATA_DIR_ENV]
    if dataset in GENERATED:
        return None
    found = find_data_dir(dataset, list(SEARCHED))
    if found is None:
        print(
            f"poolbench harness: {dataset} is not in {' or '.join(SEARCHED)} (from {os.getcwd()}); reading or "
            f"downloading it in ./data. Point elsewhere with --data-dir DIR, --data-path FILE or ${DATA_DIR_ENV}",
            file=sys.stderr,
        )
    return found


def add_arguments(p: argparse.ArgumentParser, with_file: bool = True) -> None:
    if with_file:
        p.add_argument("pool_file", help="path/to/custom_pool.py[:ClassName] (class default CustomPool)")
    p.add_argument("--arch", required=True, type=registered_name("model"), help="resnet20|56|..., vgg16bn, mobilenetv2")
    p.add_argument(
        "--dataset", required=True, type=registered_name("dataset"), help="cifar10, cifar100, fmnist (fashion_mnist)"
    )
    p.add_argument("--seed", type=int_at_least(0), default=42, help="default 42, as the benchmark's usage line")
    p.add_argument("--epochs", type=int_at_least(1), help="default 200 (any other value is a non-standard run)")
    p.add_argument(
        "--train-subset",
        type=int_at_least(1),
        help="poolbench extra: a fixed subset of N training images (non-standard)",
    )
    p.add_argument(
        "--test-subset", type=int_at_least(1), help="poolbench extra: a fixed subset of N test images (non-standard)"
    )
    p.add_argument(
        "--data-dir",
        type=folder,
        help=f"where the dataset's files are (default: ${DATA_DIR_ENV}, else the first of "
        f"{' and '.join(SEARCHED)} that holds them, else ./data, where CIFAR is downloaded)",
    )
    p.add_argument("--data-path", type=existing_path(), help="one archive or image folder instead")
    p.add_argument(
        "--runs-dir", type=folder, default=str(default_runs_dir()), help="run directories (default: %(default)s)"
    )
    p.add_argument("--device", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    add_threads_arg(p)
    add_check_arg(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "harness",
        help="the benchmark's command line: POOL_FILE --arch --dataset --seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=main)


def _scaffold_builds(config) -> bool:
    """The benchmark builds its pool as ``CustomPool()``; a pool class that needs an argument would
    stop there, so its own command line refuses it (poolbench's engine could build it: --no-check)."""
    from ..pools.check import check_scaffold
    from ..train.preflight import pool_target

    row = check_scaffold(pool_target(config))
    if not row.ok:
        print(
            f"poolbench harness: {row.detail}; or pass --no-check to train it on poolbench's engine, "
            f"which passes channels=C",
            file=sys.stderr,
        )
    return row.ok


def main(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..data.datasets import GENERATED
    from ..train import Protocol, RunConfig
    from ..train.config import pool_fields
    from ..train.engine import train_run
    from ..train.resolve import resolve
    from ._validate import bad, validate_configs

    apply_threads(args)
    from ..models import list_models

    model, dataset = args.arch, args.dataset
    try:
        if model not in list_models():
            raise bad(
                "--arch", args.arch, "unknown architecture", f"use one of {', '.join(list_models())} (or vgg16bn)"
            )
        over = {k: getattr(args, k) for k in ("epochs", "train_subset", "test_subset") if getattr(args, k) is not None}
        protocol = Protocol(**over)
        try:
            pool = pool_fields(args.pool_file)
        except ValueError as exc:
            raise ValueError(f"POOL_FILE {args.pool_file}: {exc}") from None
        data_dir = args.data_dir if args.data_dir or args.data_path else default_data_dir(dataset)
        config = RunConfig(
            model=model,
            dataset=dataset,
            seed=args.seed,
            protocol=protocol,
            data_dir=absolute(data_dir),
            data_path=absolute(args.data_path),
            **pool,
        )
        validate_configs([config], device=args.device, runs_dir=args.runs_dir)
        config = resolve(config)  # reads the data (downloads an official archive if missing)
    except (ValueError, DataError, OSError) as exc:
        print(one_line_error("poolbench harness", exc), file=sys.stderr)
        return 2
    try:
        if not args.no_check and not _scaffold_builds(config):
            return 2
        if not args.no_check and not refuse_failing_pools([config], "harness"):
            return 2
        print(
            f"arch={model} dataset={dataset} seed={args.seed} pool={args.pool_file} protocol={config.protocol_label()} "
            f"data={'generated' if dataset in GENERATED else config.data_path or config.data_dir or 'data'}",
            flush=True,
        )
        result = train_run(  # a bar on a terminal (none in a log file), the epoch lines around it
            config, args.runs_dir, device=args.device, progress=True, log=lambda s: print(s, flush=True)
        )
    except (ValueError, DataError) as exc:
        print(one_line_error("poolbench harness", exc), file=sys.stderr)
        return 2
    if result["status"] != "finished":
        print(
            f"status: {result['status']}"
            + (f" at epoch {result['diverged_at_epoch']}" if result.get("diverged_at_epoch") else "")
        )
        return 1
    print(f"best test acc: {result['best_test_acc']:.2f} (epoch {result['best_epoch']})")
    print(f"final test acc: {result['final_test_acc']:.2f}")
    print(f"run: {config.run_id} [{config.protocol_label()}]")
    return 0
