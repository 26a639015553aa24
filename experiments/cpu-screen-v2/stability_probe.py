"""Does a pool survive the protocol's first SGD steps? Per-step training loss, no evaluation.

The benchmark trains at lr 0.1 (momentum 0.9, batch 128) from the first step, without warm-up.
A pool whose output is larger than GAP's at initialisation (max, GeM with p = 3) feeds the
classifier larger features, and the first updates can blow the loss up. This probe runs the
engine's own pieces (data order, augmentation, seeded model init, SGD with weight decay on every
parameter) for the first ``--steps`` steps of epoch 1 of the CPU screen's ResNet-20 / CIFAR-10
column (or ``--model``, e.g. resnet56, on the same data) and prints the loss of every step, and
GeM's learned exponent p where the pool has one, for each pool, same seed, same batches. It stops
a pool at the first non-finite loss, where the engine would record the run as diverged.

    OMP_NUM_THREADS=2 .venv/bin/python experiments/cpu-screen-v2/stability_probe.py \
        > experiments/cpu-screen-v2/stability_probe.md
    OMP_NUM_THREADS=2 .venv/bin/python experiments/cpu-screen-v2/stability_probe.py --model resnet56 \
        > experiments/cpu-screen-v2/stability_probe-resnet56.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch

from poolbench.data.augment import normalize
from poolbench.results.index import pool_label
from poolbench.train.build import build_model, make_optimizer
from poolbench.train.inputs import epoch_batches, prepare_data
from poolbench.train.loop import member_losses
from poolbench.train.provenance import git_commit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screen  # noqa: E402  (the column definitions)

POOLS = ["avg", "max", "gem", "avgmax", "gemgate", "gemgate:p=1"]


def parse(spec: str):
    name, _, args = spec.partition(":")
    return name, {k: json.loads(v) for k, v in (kv.split("=") for kv in args.split(",") if kv)}


def exponent(pool) -> float | None:
    """GeM's learned exponent after the step: ``gem``'s p, or the mean p of ``gemgate``."""
    if isinstance(getattr(pool, "p", None), torch.Tensor):
        return float(pool.p.detach().float().mean())
    if callable(getattr(pool, "p", None)):
        return float(pool.p().detach().mean())
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pools", default=",".join(POOLS))
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--column", default="resnet20-imagefolder", choices=sorted(screen.COLUMNS))
    ap.add_argument("--model", help="another model on the column's data, e.g. resnet56")
    args = ap.parse_args()
    losses = {}
    data = None
    for spec in args.pools.split(","):
        name, pool_args = parse(spec)
        c = screen.cfg(args.column, name, args.seed, **pool_args)
        if args.model:
            c = c.replace(model=args.model)
        data = data or prepare_data(c, torch.device("cpu"))
        model = build_model(c, data).to(memory_format=torch.channels_last)
        opt = make_optimizer(model, c)
        model.train()
        row, exps = [], []
        for step, (xb, yb) in enumerate(epoch_batches(data, c.seed, 1, c.protocol.batch_size)):
            if step == args.steps:
                break
            loss, _, _ = member_losses(
                model, normalize(xb, data.mean, data.std).contiguous(memory_format=torch.channels_last), yb[:, None]
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            row.append(loss.item())
            exps.append(exponent(model.head.pool))
            if not math.isfinite(row[-1]):  # the engine would record the run as diverged here
                break
        losses[pool_label(c.to_dict())] = (row, exps)
    print(f"# First {args.steps} SGD steps of {c.model} on the CPU screen's {args.column} data (seed {args.seed})\n")
    print(
        f"Protocol of the steps: {c.protocol_label()}; lr 0.1, no warm-up. Date "
        f"{datetime.date.today()}, commit {git_commit()}, torch {torch.__version__}, CPU.\n"
    )
    print(f"Command: `{' '.join(['python', 'experiments/cpu-screen-v2/stability_probe.py'] + sys.argv[1:])}`\n")
    print("| pool | loss at step 1 | max finite loss | step of max | last step | loss there | GeM p: min (step) |")
    print("|---|---|---|---|---|---|---|")
    for lab, (row, exps) in losses.items():
        finite = [v if math.isfinite(v) else -1.0 for v in row]
        worst = max(range(len(row)), key=finite.__getitem__)
        ps = [(v, i + 1) for i, v in enumerate(exps) if v is not None and math.isfinite(v)]
        pmin = f"{min(ps)[0]:.2f} ({min(ps)[1]})" if ps else "-"
        print(f"| `{lab}` | {row[0]:.3f} | {row[worst]:.3f} | {worst + 1} | {len(row)} | {row[-1]:.3f} | {pmin} |")
    print("\nEvery step's loss (and GeM's p after the step, where the pool has one):\n")
    for lab, (row, exps) in losses.items():
        print(f"- `{lab}`: " + " ".join(f"{v:.2f}" for v in row))
        if any(e is not None for e in exps):
            print("  - p: " + " ".join(f"{e:.2f}" for e in exps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
