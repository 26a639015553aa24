"""``poolbench run``: train one configuration over one or more seeds (skip done, resume unfinished)."""

from __future__ import annotations

import argparse
import sys

from ._args import (
    DEFAULT_SEEDS,
    add_check_arg,
    add_data_args,
    add_log_csv_arg,
    add_model_args,
    add_protocol_args,
    add_threads_arg,
    apply_threads,
    callbacks_from_args,
    config_from_args,
    parse_kv,
    parse_seeds,
    refuse_failing_pools,
)
from ._validate import int_at_least, one_line_error, registered_name, validate_configs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train a model with a pool under the fixed protocol",
        description="Train MODEL on DATASET with POOL for each seed. A finished run is "
        "skipped, an unfinished one resumes from its last checkpoint. Exit status: 0 when every run "
        "finished, 1 when one diverged (or a disk error stopped it), 2 for bad input or a pool "
        "failing the contract, 130 on Ctrl-C.",
    )
    p.add_argument(
        "--model",
        required=True,
        type=registered_name("model"),
        help="resnet20|32|44|56|110, vgg16_bn, mobilenetv2, their spatial variants vgg16_bn_s2 and mobilenetv2_s4, "
        "cnn4, preact_resnet18",
    )
    p.add_argument(
        "--dataset",
        required=True,
        type=registered_name("dataset"),
        help="cifar10, cifar100, svhn, fashion_mnist (fmnist), mnist, imagefolder, synthetic, patterns",
    )
    p.add_argument(
        "--pool", type=registered_name("pool"), default="avg", help="a registered pool name (see poolbench check --all)"
    )
    p.add_argument(
        "--pool-file",
        help="path/to/file.py[:ClassName], a user pool (the benchmark's convention; the class defaults to CustomPool)",
    )
    p.add_argument("--pool-arg", action="append", metavar="K=V", help="pool keyword argument, repeatable")
    p.add_argument(
        "--seeds",
        type=parse_seeds,
        default=DEFAULT_SEEDS,
        help="e.g. 0,1,2 or 0-4 (default %(default)s: the benchmark's published seeds)",
    )
    p.add_argument("--pack", type=int_at_least(1), default=1, help="train K seeds at once as one packed network")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (speed only)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (speed only)")
    p.add_argument(
        "--compile-mode",
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile mode (implies --compile); reduce-overhead = CUDA graphs on a GPU",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_arg(p)
    add_log_csv_arg(p)
    add_check_arg(p)
    add_protocol_args(p)
    add_data_args(p)
    add_model_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..executors.local import LocalExecutor
    from ..sweep import run_sweep
    from ..train.packing import can_pack
    from ..train.resolve import resolve

    apply_threads(args)
    try:
        parse_kv(args.pool_arg, "--pool-arg")
        configs = [config_from_args(args, args.pool, seed) for seed in args.seeds]
        validate_configs(configs, device=args.device, runs_dir=args.runs_dir)
        configs = [resolve(c) for c in configs]  # reads the data (downloads an official archive if missing)
    except (argparse.ArgumentTypeError, ValueError, OSError, DataError) as exc:
        print(one_line_error("poolbench run", exc), file=sys.stderr)
        return 2
    try:
        if not args.no_check and not refuse_failing_pools(configs[:1], "run"):
            return 2
    except ValueError as exc:  # an unknown pool name, a missing class in the file
        print(f"poolbench run: {exc}", file=sys.stderr)
        return 2
    label = configs[0].protocol_label()
    print(f"protocol: {label}; seeds {args.seeds}; runs dir {args.runs_dir}")
    # the sweep's path: skip done runs, plan packs, train on the local executor; the first crash
    # stops the command (recorded in its run directory) and is named in one line below
    executor = LocalExecutor(
        pack=args.pack,
        progress=not args.no_progress,
        device=args.device,
        stop_on_error=True,
        callbacks=callbacks_from_args(args),
    )
    try:
        if args.pack > 1 and len(configs) > 1:
            packable, why = can_pack(configs)  # the seeds of one configuration pack all or none
            if not packable:
                print(f"not packing: {why}; training the seeds one after another")
        summary = run_sweep(configs, args.runs_dir, executor, index=False)
    except (ValueError, DataError) as exc:  # bad input found late (a damaged file): a clear message
        print(one_line_error("poolbench run", exc), file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a vanished mount: one line; the run resumes when asked again
        print(one_line_error("poolbench run", exc), file=sys.stderr)
        return 1
    results = summary.results
    for cfg in configs:
        r = results[cfg.run_id]
        if cfg.run_id in summary.done_before:
            best = f", best test acc {r['best_test_acc']:.2f}" if r.get("best_test_acc") is not None else ""
            print(f"{cfg.run_id}: already done ({r['status']}{best}); not trained again")
        if r["status"] == "finished":
            print(
                f"{cfg.run_id}: best test acc {r['best_test_acc']:.2f} (epoch {r['best_epoch']}), "
                f"final {r['final_test_acc']:.2f} [{label}]"
            )
        else:
            print(
                f"{cfg.run_id}: {r['status']}"
                + (f" at epoch {r['diverged_at_epoch']}" if r.get("diverged_at_epoch") else "")
                + (f": {r['error']}" if r.get("status") == "held" else "")
            )
    # as the harness: 1 when a run did not finish (diverged, or held by another process), so a
    # script sees it without a table
    return 0 if all(r["status"] == "finished" for r in results.values()) else 1
