"""How much of a model's forward time the global pool takes, on CPU, at batch 128.

For each model (resnet56: 8x8 x 64 map, vgg16_bn: 1x1 x 512, mobilenetv2: 1x1 x 1280) it times
(a) the whole model (built with the first pool listed) and (b) each pool alone on that model's
real final feature map, and reports the pool's share = median(pool) / median(model). Two modes:

- ``eval``: inference forward under ``torch.no_grad()``;
- ``train``: training-mode forward + backward (the pool's train-only regularisers are active;
  the pool's share of the training step is its forward+backward over the model's).

Timings are medians over ``--repeats`` interleaved repetitions (model and pool alternate, so
load from other processes on a shared machine hits both alike). The output is a Markdown table
with date, device, commit, torch version, threads, load average and the command.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pool_overhead.py --pools gemgate,gem,avg \
        --pool-arg gemgate:drop=0.1 --pool-arg gemgate:pos_drop=0.2 --out benchmarks/results/pool-overhead-DATE.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from poolbench.cli._args import parse_value
from poolbench.models import create_model
from poolbench.pools import build_pool

MODELS = (("resnet56", 3), ("vgg16_bn", 3), ("mobilenetv2", 1))


def _time(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(
    model_name: str, in_chans: int, pools: dict[str, dict], batch: int, repeats: int, mode: str
) -> dict[str, dict[str, float]]:
    """Time the model (built with the first pool) and each pool alone on its real final map."""
    first = next(iter(pools))
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=100, in_chans=in_chans, pool=first, pool_args=pools[first])
    x = torch.randn(batch, in_chans, 32, 32)
    with torch.no_grad():
        feats = model.eval().forward_features(x)
    mods = {name: build_pool(name, channels=feats.shape[1], **args) for name, args in pools.items()}
    f = feats.clone().requires_grad_(mode == "train")
    model.train(mode == "train")
    for m in mods.values():
        m.train(mode == "train")

    def run_model():
        if mode == "eval":
            with torch.no_grad():
                model(x)
        else:
            model.zero_grad(set_to_none=True)
            model(x).sum().backward()

    def run_pool(m):
        if mode == "eval":
            with torch.no_grad():
                m(f)
        else:
            m.zero_grad(set_to_none=True)
            f.grad = None
            m(f).sum().backward()

    for _ in range(2):  # warm-up
        run_model()
        for m in mods.values():
            run_pool(m)
    tm: list[float] = []
    tp: dict[str, list[float]] = {n: [] for n in mods}
    for _ in range(repeats):  # interleaved: background load hits model and pools alike
        tm.append(_time(run_model))
        for n, m in mods.items():
            tp[n].append(sum(_time(functools.partial(run_pool, m)) for _ in range(5)) / 5)  # fast: average 5 calls
    mt = statistics.median(tm)
    return {
        n: {
            "model_ms": 1e3 * mt,
            "pool_ms": 1e3 * statistics.median(t),
            "share_pct": 100.0 * statistics.median(t) / mt,
            "map": "x".join(map(str, feats.shape[1:])),
        }
        for n, t in tp.items()
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pools", default="gemgate,gem,avg")
    ap.add_argument("--pool-arg", action="append", default=[], metavar="POOL:K=V")
    ap.add_argument("--models", default=",".join(m for m, _ in MODELS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--modes", default="eval,train")
    ap.add_argument("--out", help="also write the Markdown report here")
    args = ap.parse_args()
    pool_args: dict[str, dict] = {}
    for item in args.pool_arg:
        key, _, value = item.partition("=")
        pool, _, k = key.rpartition(":")
        pool_args.setdefault(pool, {})[k] = parse_value(value)
    chans = dict(MODELS)
    lines = [
        "# Pool overhead: share of the model's time taken by the global pool (CPU)",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- device: CPU, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), batch {args.batch}, input 32x32",
        f"- commit: {_commit()}",
        f"- load average at start (shared machine): {os.getloadavg()[0]:.2f}",
        f"- command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} "
        f"{shlex.join([Path(sys.executable).name, *sys.argv])}`",
        f"- medians over {args.repeats} interleaved repetitions; pool timed alone on the model's real final map",
        "",
        "model ms = the whole model with the first pool listed; pool ms = the pool alone.",
        "",
        "| model | final map | mode | pool | pool args | model ms | pool ms | pool share % |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for mode in args.modes.split(","):
        for model_name in args.models.split(","):
            pools = {p: pool_args.get(p, {}) for p in args.pools.split(",")}
            res = measure(model_name, chans[model_name], pools, args.batch, args.repeats, mode)
            for pool_name, r in res.items():
                pa = pools[pool_name]
                line = (
                    f"| {model_name} | {r['map']} | {mode} | {pool_name} | "
                    f"{','.join(f'{k}={v}' for k, v in pa.items()) or '-'} | {r['model_ms']:.1f} | "
                    f"{r['pool_ms']:.3f} | {r['share_pct']:.2f} |"
                )
                lines.append(line)
                print(line, flush=True)
    lines.append("")
    lines.append(f"- load average at end: {os.getloadavg()[0]:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
