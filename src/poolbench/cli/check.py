"""``poolbench check``: run the pool contract (``poolbench.pools.check``) before anything is trained.

    poolbench check gem                                  one registered pool, one row per check
    poolbench check --all                                every registered pool, a summary table
    poolbench check examples/broken_std_pool.py:CustomPool   a user's pool class in a file

A user's file also gets the ``benchmark scaffold`` row: whether ``CustomPool()``, with no arguments
as the benchmark's scaffold builds it, works (a warning: poolbench itself passes ``channels=C``).
Failing checks with one cause share one row. Exit status 1 if any contract check fails
(torch.compile / ONNX rows are reported, not fatal),
2 for a usage error (unknown name, missing file).
"""

from __future__ import annotations

import argparse
import sys
import time

from ._validate import int_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check pools against the contract (shapes, finiteness, autocast, ...)",
        description="Check a pool against the contract: output shape and dtype for several C and "
        "map sizes (1x1 and 7x5 included), finite outputs and gradients on awkward "
        "inputs, bf16 autocast, channels_last and non-contiguous inputs, train/eval, "
        "state_dict round-trip; torch.compile and ONNX export are reported, not fatal.",
    )
    p.add_argument("target", nargs="?", help="a registered pool name, or path/to/file.py:ClassName")
    p.add_argument("--all", action="store_true", help="check every registered pool")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export row")
    p.add_argument(
        "--channels", type=int_list(1), default=[64, 512, 1280], help="channel counts to check (default 64,512,1280)"
    )
    p.add_argument("--pool-arg", action="append", metavar="K=V", help="pool keyword argument, repeatable")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..pools import is_pool, list_pools
    from ..pools.check import check_pool
    from ..pools.loader import is_pool_file_spec, load_pool_file
    from ._args import parse_kv
    from ._validate import check_pool_args

    try:
        channels = tuple(args.channels)
        pool_args = parse_kv(args.pool_arg, "--pool-arg")
        if args.all == bool(args.target):
            raise ValueError("give one pool (a name or path/to/file.py:ClassName) or --all")
        if args.all and pool_args:
            raise ValueError("--pool-arg is one pool's argument: check that pool by name, without --all")
        if args.all:
            targets: list = list_pools()
        elif is_pool_file_spec(args.target):
            targets = [load_pool_file(args.target)]
        elif is_pool(args.target):
            targets = [args.target]
        else:
            raise ValueError(
                f"unknown pool {args.target!r}; valid names: {', '.join(list_pools())} (or path/to/file.py:ClassName)"
            )
        if pool_args:
            check_pool_args(targets[0], min(channels), pool_args, args.target)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f"poolbench check: {exc}", file=sys.stderr)
        return 2

    opts = dict(channels=channels, compile=not args.no_compile, onnx=not args.no_onnx, pool_args=pool_args)
    if not args.all:
        report = check_pool(targets[0], **opts)
        if not isinstance(targets[0], str):  # a user's file: could the benchmark's scaffold build it?
            from ..pools.check import check_scaffold

            report.target = args.target
            report.rows.append(check_scaffold(targets[0]))
        print(report.format_table())
        return 0 if report.passed else 1

    # --all: one summary row per pool, then the reasons of every row that did not pass.
    width = max(len(n) for n in targets)
    summary_width = width + 30  # pool, result, checks, time and a "(n not fatal)" note
    print(f"{'pool':<{width}}  result  checks  time".ljust(summary_width) + " on a 1x1 map (probed)")
    failed = 0
    for name in targets:
        t0 = time.perf_counter()
        report = check_pool(name, **opts)
        bad = report.failures()
        failed += not report.passed
        verdict = "pass" if report.passed else "FAIL"
        note = f"  ({len(bad)} not fatal)" if report.passed and bad else ""
        n_checks = len(report.checks)
        seconds = time.perf_counter() - t0
        left = f"{name:<{width}}  {verdict:<6}  {n_checks - len(bad):>2}/{n_checks:<3}  {seconds:.1f}s{note}"
        print(f"{left:<{summary_width}} {report.one_by_one}", flush=True)  # a space even past the width
        for names, row in report.grouped(bad):  # one line per cause, naming the checks it fails
            print(f"{'':<{width}}    {row.status} {names}: {row.detail}")
    print(f"{len(targets) - failed}/{len(targets)} pools pass the contract")
    return 1 if failed else 0
