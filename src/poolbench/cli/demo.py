"""``poolbench demo``: the main job on the embedded default.

Trains a narrow 4-layer ConvNet (``cnn4``, width 16) on the generated ``patterns`` task (a small plus
or X, weak or strong, among a varying number of weak copies: the class needs the motif's *peak*
strength, which max-like pools keep and averaging dilutes) with GAP, max, GeM and a learned pool
(FlexPooling), under a short, clearly non-standard protocol (Adam, 4 epochs; why not the benchmark's
SGD, and what the demo prints and how long it takes: the README's ``make demo`` paragraph); prints the
leaderboard and writes a PNG of the learning curves. Re-running skips finished runs, so a second call
only prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._args import add_threads_arg, apply_threads, parse_seeds, refuse_failing_pools
from ._validate import device_name, folder, int_at_least, registered_name

DEMO_POOLS = "avg,max,gem,flex"
DEMO_DATASET = "patterns"
DEMO_MODEL, DEMO_WIDTH = "cnn4", 16
DEMO_EPOCHS = 4
# A fixed half of the patterns train set (2000) and its whole test set (500) keep 4 runs near a minute
# on 2 CPU cores; the cosine schedule anneals over the 4 epochs, as the protocol does over 200.
DEMO_TRAIN = 1000
DEMO_TEST = 500
DEMO_OPTIM = dict(optimizer="adam", lr=0.002, batch_size=64)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="short benchmark on synthetic data: leaderboard + learning-curve PNG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--pools",
        default=DEMO_POOLS,
        help="comma list of pool names and pool files (custom_pool.py, file.py:MyPool; default: %(default)s)",
    )
    p.add_argument(
        "--model", type=registered_name("model"), default=DEMO_MODEL, help="default: %(default)s at width 16"
    )
    p.add_argument(
        "--dataset",
        type=registered_name("dataset"),
        default=DEMO_DATASET,
        help="default: %(default)s (generated, no files)",
    )
    p.add_argument("--epochs", type=int_at_least(1), default=DEMO_EPOCHS)
    p.add_argument("--train-subset", type=int_at_least(1), default=DEMO_TRAIN)
    p.add_argument("--test-subset", type=int_at_least(1), default=DEMO_TEST)
    p.add_argument("--seeds", type=parse_seeds, default=[0])
    p.add_argument("--out", type=folder, default="out/demo", help="runs and pictures go here (default: %(default)s)")
    p.add_argument("--device", type=device_name, help="default: cuda when available, else cpu")
    add_threads_arg(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..executors.local import LocalExecutor
    from ..fileio import atomic_write_bytes
    from ..results.index import build_index
    from ..results.plots import learning_curves, pool_colors
    from ..results.table import load_leaderboard, render
    from ..sweep import expand_grid, run_sweep
    from ..train import Protocol
    from ._validate import one_line_error, validate_configs

    apply_threads(args)
    out = Path(args.out)
    runs_dir = out / "runs"
    pools = [p.strip() for p in args.pools.split(",") if p.strip()]
    protocol = Protocol(epochs=args.epochs, train_subset=args.train_subset, test_subset=args.test_subset, **DEMO_OPTIM)
    model_args = {"width": DEMO_WIDTH} if args.model == DEMO_MODEL else {}
    try:
        configs = expand_grid(pools, [args.model], [args.dataset], args.seeds, protocol=protocol, model_args=model_args)
        validate_configs(configs, device=args.device, runs_dir=str(runs_dir))
        if not refuse_failing_pools(configs, "demo"):
            return 2
    except (
        ValueError,
        DataError,
    ) as exc:  # an unknown pool, model or dataset, a missing file or class, a subset too large
        print(one_line_error("poolbench demo", exc), file=sys.stderr)
        return 2
    print(f"poolbench demo: {args.model} on {args.dataset}, pools {', '.join(pools)}, seeds {args.seeds}")
    print(f"protocol: {configs[0].protocol_label()} -- a short demonstration, not the benchmark's numbers")
    t0 = time.perf_counter()
    summary = run_sweep(configs, runs_dir, LocalExecutor(device=args.device))
    print(f"{summary} in {time.perf_counter() - t0:.0f} s\n")
    print(render(load_leaderboard(runs_dir), "text"))
    conn = build_index(runs_dir)
    try:
        labels = [r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs")]  # a file's label is not its spec
        png = learning_curves(conn, configs[0].protocol_label(), [f"{args.model}-{args.dataset}"], pool_colors(labels))
    finally:
        conn.close()
    curves = out / "learning_curves.png"
    atomic_write_bytes(curves, png)
    print(f"\nlearning curves: {curves}\nrun directories: {runs_dir}")
    return 0
