"""CPU screen of gemgate against baselines: a NON-STANDARD short protocol on small subsets.

This is not the benchmark's protocol (200 epochs, full data, GPU). It exists because no GPU was
available to issue 7's work; see docs/new_pool.md. Every run it makes is labelled non-standard
in its config.json / result.json by the engine.

    OMP_NUM_THREADS=1 nohup .venv/bin/python results/cpu-screen/screen.py --deadline-min 75 \
        > results/cpu-screen/screen.log 2>&1 &

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

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = Path(os.environ.get("POOLBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))

# The short protocol: every number that defines the screen, in one place.
PROTOCOL = Protocol(epochs=5, train_subset=2000, test_subset=1000)  # SGD 0.1, cosine, batch 128, wd 5e-4
VAL_SPLIT = 1000  # held out of the training set (fixed, seed-independent): variant selection only

COLUMNS = {
    # 8x8 final map, C=64 (ResNet-20 stands in for ResNet-56 on the CPU)
    "resnet20-cifar10jpg": dict(model="resnet20", dataset="imagefolder",
                                data_path=str(DATA / "cifar10-jpg.tar.gz")),
    # 1x1 final map, C=1280
    "mobilenetv2-fmnist": dict(model="mobilenetv2", dataset="fashion_mnist", data_dir=str(DATA / "fashion-mnist")),
}

FULL = {"drop": 0.1, "pos_drop": 0.2}  # gemgate with every component on (gate, spread, per-channel p: defaults)
ABLATIONS = {  # the full pool with one component removed
    "-gate": dict(FULL, gate=False),
    "-spread": dict(FULL, spread=False),
    "-drop": dict(FULL, drop=0.0),
    "-pos_drop": dict(FULL, pos_drop=0.0),
    "-per_channel_p": dict(FULL, per_channel_p=False),
}
# On a 1x1 map these components are the identity by construction (no spatial axis): not run there.
IDENTITY_ON_1X1 = ("-spread", "-pos_drop", "-per_channel_p")
BASELINES = ["gem", "avg", "avgmax", "max", "mixed", "softpool"]  # mixed (Lee 2016), softpool (Stergiou 2021)
ONE_BY_ONE_SAME_AS_AVG = ("max", "mixed", "softpool")  # identity on 1x1 maps, exactly like avg


def cfg(column: str, pool: str, seed: int, **pool_args) -> RunConfig:
    return RunConfig(pool=pool, pool_args=pool_args, seed=seed, protocol=PROTOCOL, val_split=VAL_SPLIT,
                     **COLUMNS[column])


def plan():
    """The runs in priority order."""
    runs = []
    for seed in (0, 1):
        for col in COLUMNS:
            runs.append(cfg(col, "gemgate", seed, **FULL))
            for pool in BASELINES:
                if col.startswith("mobilenetv2") and pool in ONE_BY_ONE_SAME_AS_AVG:
                    continue
                runs.append(cfg(col, pool, seed))
    for seed in (0, 1):
        for col in COLUMNS:
            for name, args in ABLATIONS.items():
                if col.startswith("mobilenetv2") and name in IDENTITY_ON_1X1:
                    continue
                runs.append(cfg(col, "gemgate", seed, **args))
    for seed in (0, 1):  # checks that the identical-on-1x1 pools really give avg's numbers
        for pool in ONE_BY_ONE_SAME_AS_AVG:
            runs.append(cfg("mobilenetv2-fmnist", pool, seed))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deadline-min", type=float, default=75.0, help="start no new run after this many minutes")
    ap.add_argument("--runs-dir", default=str(HERE))
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.time()
    runs = plan()
    print(f"{len(runs)} runs planned; protocol {runs[0].protocol_label()}; threads {torch.get_num_threads()}",
          flush=True)
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
        print(f"[{i + 1}/{len(runs)}] {c.run_id} {c.pool} {c.pool_args}: status {r['status']} "
              f"best test {r.get('best_test_acc')} final {r.get('final_test_acc')} "
              f"test@best-val {r.get('test_acc_at_best_val')} ({time.time() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
