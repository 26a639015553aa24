"""CPU screen of gemgate against baselines: a NON-STANDARD short protocol on small subsets.

This is not the benchmark's protocol (200 epochs, full data, GPU). It exists because no GPU was
available when the pool was designed; see docs/new_pool.md. Every run it makes is labelled non-standard
in its config.json / result.json by the engine.

    OMP_NUM_THREADS=1 nohup .venv/bin/python experiments/cpu-screen/screen.py --deadline-min 80 \
        >> experiments/cpu-screen/screen.log 2>&1 &

Runs are trained one after another in priority order (seed 0 of the main cells, then seed 1,
then the ablations), each skipped when already finished, so the script can be re-run to extend
the screen. No new run starts after ``--deadline-min`` minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from poolbench.train.config import RunConfig
from poolbench.train.engine import train_run
from poolbench.train.protocol import Protocol
from poolbench.train.resolve import resolve

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = Path(os.environ.get("POOLBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))

# The short protocol: every number that defines the screen, in one place.
# Two earlier attempts are kept in abandoned/ (their logs and the one run that finished):
# resnet20 on the CIFAR-10 JPEG copy, 5 epochs x 2000 images at batch 128 (80 SGD steps), reached
# 18% test accuracy in 6 minutes on this shared machine, and Fashion-MNIST at batch 128 was at 12%
# after its first epoch (16 steps): far too few steps to tell pools apart. On a CPU the cost is per
# image, not per step, so the screen takes 4x more steps from the same images with batch 32 and
# the linearly scaled learning rate 0.1 * 32/128 = 0.025 (Goyal et al. 2017). Fashion-MNIST learns
# in few steps, so both map sizes use it.
PROTOCOL = Protocol(epochs=3, batch_size=32, lr=0.025, train_subset=2000, test_subset=1000)  # SGD, cosine, wd 5e-4
VAL_SPLIT = 1000  # held out of the training set (fixed, seed-independent): variant selection only
SEEDS = (0, 1, 2)  # main cells (variants and baselines)
ABLATION_SEEDS = (0, 1)

FMNIST = dict(dataset="fashion_mnist", data_dir=str(DATA / "fashion-mnist"), channels_last=True)  # speed only
COLUMNS = {
    # 8x8 final map, C=64 (stands in for ResNet-56); trained with the initialisation before the reference's
    "resnet20-fmnist": dict(model="resnet20", init_version=1, **FMNIST),
    "mobilenetv2-fmnist": dict(model="mobilenetv2", **FMNIST),  # 1x1 final map, C=1280 (the benchmark's column)
}

# Two a-priori candidates, chosen between on validation accuracy:
VARIANTS = {
    "reg": {"drop": 0.1, "pos_drop": 0.2},  # every component on: gate, spread, per-channel p, both dropouts
    "plain": {},  # gate, spread, per-channel p; no train-time regularisers
}
ABLATIONS = {  # the full ("reg") pool with one component removed (-drop and -pos_drop: see "plain")
    "-gate": dict(VARIANTS["reg"], gate=False),
    "-spread": dict(VARIANTS["reg"], spread=False),
    "-per_channel_p": dict(VARIANTS["reg"], per_channel_p=False),
    "-drop": dict(VARIANTS["reg"], drop=0.0),
    "-pos_drop": dict(VARIANTS["reg"], pos_drop=0.0),
}
# On a 1x1 map these components are the identity by construction (no spatial axis): not run there.
IDENTITY_ON_1X1 = ("-spread", "-per_channel_p", "-pos_drop")
# and on a 1x1 map "-drop" (pos_drop is a no-op there) is the same function as the "plain" variant
SAME_AS_PLAIN_ON_1X1 = ("-drop",)
BASELINES = ["gem", "avg", "avgmax", "mixed", "softpool", "max"]  # mixed (Lee 2016), softpool (Stergiou 2021)
ONE_BY_ONE_SAME_AS_AVG = ("max", "mixed", "softpool")  # identity on 1x1 maps, exactly like avg


def cfg(column: str, pool: str, seed: int, **pool_args) -> RunConfig:
    """The run, resolved (its id fingerprints the column's data, read or taken from the cache)."""
    return resolve(
        RunConfig(pool=pool, pool_args=pool_args, seed=seed, protocol=PROTOCOL, val_split=VAL_SPLIT, **COLUMNS[column])
    )


def main_cells(seed: int) -> list[RunConfig]:
    """Every column's variants and baselines at one seed (on a 1x1 map, not the pools equal to avg)."""
    runs = []
    for col in COLUMNS:
        runs += [cfg(col, "gemgate", seed, **args) for args in VARIANTS.values()]
        runs += [
            cfg(col, pool, seed)
            for pool in BASELINES
            if not (col.startswith("mobilenetv2") and pool in ONE_BY_ONE_SAME_AS_AVG)
        ]
    return runs


def plan():
    """The runs in priority order: main cells seed by seed, then ablations, then 1x1 identity checks.

    The order is the order of the first launch; seed 2 of the main cells was added after it, as the
    machine got less loaded, and runs last (finished runs are skipped, so the order does not matter
    for the results)."""
    runs = []
    for seed in SEEDS[:2]:
        runs += main_cells(seed)
    for seed in ABLATION_SEEDS:
        for col in COLUMNS:
            runs += [
                cfg(col, "gemgate", seed, **args)
                for name, args in ABLATIONS.items()
                if not (col.startswith("mobilenetv2") and name in IDENTITY_ON_1X1 + SAME_AS_PLAIN_ON_1X1)
            ]
    for seed in SEEDS:  # so that every baseline cell has the same seeds
        runs += [cfg("mobilenetv2-fmnist", pool, seed) for pool in ONE_BY_ONE_SAME_AS_AVG]
    for seed in SEEDS[2:]:
        runs += main_cells(seed)
    seen, out = set(), []
    for c in runs:  # -drop / -pos_drop coincide with nothing else, but keep the list free of repeats
        if c.run_id not in seen:
            seen.add(c.run_id)
            out.append(c)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deadline-min", type=float, default=75.0, help="start no new run after this many minutes")
    ap.add_argument("--runs-dir", default=str(HERE))
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if not args.dry_run:
        (HERE / "screen.pid").write_text(str(os.getpid()))  # so that exactly this process can be stopped
    t0 = time.time()
    runs = plan()
    print(
        f"{len(runs)} runs planned; protocol {runs[0].protocol_label()}; threads {torch.get_num_threads()}", flush=True
    )
    for i, c in enumerate(runs):
        if args.dry_run:
            print(c.run_id, c.pool, c.pool_args)
            continue
        elapsed = (time.time() - t0) / 60
        if elapsed > args.deadline_min:
            print(f"deadline reached after {elapsed:.1f} min: {len(runs) - i} runs not started", flush=True)
            break
        t = time.time()
        r = train_run(c, args.runs_dir, device="cpu", progress=False, log=lambda s: print("   ", s, flush=True))
        print(
            f"[{i + 1}/{len(runs)}] {c.run_id} {c.pool} {c.pool_args}: status {r['status']} "
            f"best test {r.get('best_test_acc')} final {r.get('final_test_acc')} "
            f"test@best-val {r.get('test_acc_at_best_val')} ({time.time() - t:.0f}s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
