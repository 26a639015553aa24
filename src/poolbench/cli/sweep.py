"""``poolbench sweep``: train a grid of runs (pools x models x datasets x seeds), resumably.

    poolbench sweep --pools avg,max,gem --models resnet20 --datasets synthetic --seeds 0-1 --epochs 2
    poolbench sweep --suite benchmark --pools avg,gem --seeds 0-4 --executor ray --ray-address auto
    poolbench sweep ... --dry-run        # list the grid: run ids and new / resume / done / failed

Runs already finished (or diverged) are skipped; a failed or crashed run is recorded in its
run directory and reported here, and does not change the exit code (2 means a usage error). A
run that another live process is training is left to it and reported: exit status 1 (run the
same command again when that process is done).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from ..executors import EXECUTORS
from ..runs import RunFileError, default_runs_dir
from ..sweep import SUITES, expand_grid, expand_suite, parse_seeds, run_status, run_sweep
from ._args import (
    DEFAULT_SEEDS,
    absolute,
    add_check_arg,
    add_log_csv_arg,
    add_model_args,
    add_protocol_args,
    add_threads_arg,
    apply_threads,
    callbacks_from_args,
    model_extras_from_args,
    parse_value,
    protocol_from_args,
    refuse_failing_pools,
)
from ._validate import (
    check_dataset,
    check_kv_item,
    check_local_paths,
    folder,
    int_at_least,
    one_line_error,
    ray_address,
    registered_names,
    validate_configs,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="train a grid of runs (local or on a Ray cluster)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("grid")
    g.add_argument(
        "--pools",
        required=True,
        help="comma list of pool names and pool files, e.g. "
        "avg,max,gem,custom_pool.py (class CustomPool) or file.py:MyPool",
    )
    g.add_argument("--models", type=registered_names("model"), help="comma list of models (not with --suite)")
    g.add_argument("--datasets", type=registered_names("dataset"), help="comma list of datasets (not with --suite)")
    g.add_argument(
        "--suite",
        choices=sorted(SUITES),
        help="named (model, dataset) columns: benchmark (the benchmark's three), spatial (poolbench's own, "
        "final maps 8x8, 2x2, 4x4: see the README); the -cifar10 forms use CIFAR-10 where they use CIFAR-100",
    )
    g.add_argument(
        "--seeds",
        default=DEFAULT_SEEDS,
        help="'0-4' or '0,2,5' (default: %(default)s, the benchmark's published seeds)",
    )
    g.add_argument(
        "--pool-arg",
        action="append",
        metavar="[POOL:]K=V",
        help="pool keyword, repeatable; 'gem:p=4' only for gem, 'p=4' for every pool",
    )
    add_protocol_args(p)
    add_model_args(p)
    x = p.add_argument_group("execution")
    x.add_argument("--executor", choices=EXECUTORS, default="local", help="default: %(default)s (in-process)")
    x.add_argument(
        "--ray-address",
        type=ray_address,
        help="with --executor ray: join a running Ray cluster ('auto', 'HOST:6379', 'ray://HOST:10001'); "
        "default: start a local one, on loopback only",
    )
    x.add_argument(
        "--pack",
        type=int_at_least(1),
        help="runs per task, trained as one packed network (default: 8 on a GPU, 1 on CPU)",
    )
    x.add_argument(
        "--runs-dir",
        type=folder,
        default=str(default_runs_dir()),
        help="where run directories go; shared by every node for ray (default: %(default)s)",
    )
    x.add_argument("--data-path", help="image folder or .tar(.gz) for --datasets imagefolder")
    x.add_argument("--data-dir", type=folder, help="where dataset archives live / are downloaded")
    x.add_argument("--dry-run", action="store_true", help="list the grid and each run's status; train nothing")
    x.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_threads_arg(x)
    add_log_csv_arg(x)
    add_check_arg(x)
    p.set_defaults(func=main)


def _split(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def parse_pool_args(items: list[str]) -> dict[str, dict[str, Any]]:
    """['gem:p=4', 'eps=1e-6'] -> {'gem': {'p': 4}, '*': {'eps': 1e-6}} (see sweep.expand_grid)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        check_kv_item(item, "--pool-arg")
        key, eq, value = item.partition("=")
        pool, colon, key = key.rpartition(":") if ":" in key else ("*", "", key)
        out.setdefault(pool.strip() or "*", {})[key.strip()] = parse_value(value.strip())
    return out


def _check_names(kind: str, names: list[str], valid: list[str]) -> None:
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(map(repr, unknown))}; valid {kind}s: {', '.join(valid)}")


def build_configs(args: argparse.Namespace):
    """The grid the arguments describe; ValueError for anything a user must fix."""
    from ..models import list_models
    from ..pools import list_pools

    pools = _split(args.pools)
    if not pools:
        raise ValueError("--pools is empty: give e.g. --pools avg,max,gem")
    from ..pools.loader import is_pool_file_spec

    _check_names("pool", [p for p in pools if not is_pool_file_spec(p)], list_pools())
    common = dict(
        protocol=protocol_from_args(args),
        pool_args=parse_pool_args(args.pool_arg),
        val_split=args.val_split,
        amp=args.amp,
        data_path=absolute(args.data_path),
        data_dir=absolute(args.data_dir),
        **model_extras_from_args(args),
    )
    seeds = parse_seeds(args.seeds)
    if args.suite:
        if args.models or args.datasets:
            raise ValueError("--suite sets the models and datasets: drop --models/--datasets, or drop --suite")
        return expand_suite(args.suite, pools, seeds, **common)
    models, datasets = args.models or [], args.datasets or []
    if not models or not datasets:
        raise ValueError("give --models and --datasets (comma lists), or --suite")
    _check_names("model", models, list_models())
    for d in datasets:
        check_dataset(d, "--datasets")
    unknown = sorted(set(common["pool_args"]) - {"*"} - set(pools))
    if unknown:
        raise ValueError(
            f"--pool-arg {unknown[0]}:...: {unknown[0]!r} is not in --pools; "
            f"name a pool of the grid ({', '.join(pools)}) or drop the prefix"
        )
    return expand_grid(pools, models, datasets, seeds, **common)


def refuse_ray_address_without_ray(args: argparse.Namespace, prog: str) -> bool:
    """--ray-address means nothing to another executor: one line, not a silently local sweep."""
    if args.ray_address and args.executor != "ray":
        print(
            f"{prog}: error: --ray-address {args.ray_address} joins a Ray cluster, but --executor is "
            f"{args.executor}; add --executor ray (or drop --ray-address)",
            file=sys.stderr,
        )
        return True
    return False


def executor_from_args(args: argparse.Namespace, pack: int | None = None):
    """The executor ``--executor`` names, with the options its flags give (``--ray-address`` only
    for ray: ``refuse_ray_address_without_ray`` has refused it for another)."""
    from ..executors import create_executor

    options: dict[str, Any] = {"pack": pack, "progress": not args.no_progress, "callbacks": callbacks_from_args(args)}
    if args.ray_address:
        options["address"] = args.ray_address
    return create_executor(args.executor, **options)


def main(args: argparse.Namespace) -> int:
    if refuse_ray_address_without_ray(args, "poolbench sweep"):
        return 2
    from ..data import DataError

    apply_threads(args)
    try:
        check_local_paths(args, ["--data-path"])
        configs = build_configs(args)
        # the whole grid, up front: a bad cell is exit 2 now, not a failed run directory later
        validate_configs(configs, runs_dir=args.runs_dir, data=not args.dry_run)
    except (ValueError, argparse.ArgumentTypeError, OSError, DataError) as e:
        print(one_line_error("poolbench sweep", e), file=sys.stderr)
        return 2

    try:
        if not args.dry_run and not args.no_check and not refuse_failing_pools(configs, "sweep"):
            return 2
    except ValueError as e:
        print(f"poolbench sweep: error: {e}", file=sys.stderr)
        return 2
    from ..executors.ray import ClusterError

    try:
        return _run(args, configs)
    except (RunFileError, ClusterError) as e:  # a damaged result.json, a cluster that does not answer
        print(one_line_error("poolbench sweep", e), file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, configs) -> int:
    from ..train.resolve import resolve

    if args.dry_run:
        statuses = [run_status(c, args.runs_dir) for c in configs]
        for cfg, status in zip(configs, statuses, strict=True):
            name = (
                resolve(cfg, download=False).run_id  # found by run_status: read from the fingerprint cache
                if status != "no data"
                else f"{cfg.model}-{cfg.dataset}-{cfg.pool}-s{cfg.seed} (dataset not found)"
            )
            print(f"{status:7s} {name}")
        counts = Counter(statuses)
        kinds = ("new", "resume", "failed", "done") + (("no data",) if counts["no data"] else ())
        print(f"{len(configs)} runs: " + ", ".join(f"{counts[s]} {s}" for s in kinds))
        return 0

    summary = run_sweep(configs, args.runs_dir, executor_from_args(args, args.pack))
    print(summary)
    for r in summary.problems():
        where = f" at epoch {r['diverged_at_epoch']}" if r.get("diverged_at_epoch") else ""
        print(f"  {r['status']}{where}: {r['run_id']}" + (f": {r['error']}" if r.get("error") else ""))
    _print_table(args.runs_dir)
    return 1 if summary.held else 0


def _print_table(runs_dir: str) -> None:
    """The leaderboard of the runs directory (every run in it, not only this sweep's).

    A table that cannot be drawn is a warning: the sweep's results are safe on disk and
    ``poolbench table`` can be run again.
    """
    from ..results import table

    try:
        text = table.render(table.load_leaderboard(runs_dir))
    except Exception as e:  # noqa: BLE001 - see docstring
        print(f"poolbench sweep: no table: {type(e).__name__}: {e}", file=sys.stderr)
        return
    print()
    print(text)
