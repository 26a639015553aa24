"""A/B timing of the training step and the evaluation (``train/loop.py``) of two checkouts, in one process.

``poolbench bench`` times one checkout per invocation; on a shared machine the load changes between
two invocations by more than a small change to the step costs. This script loads the other
checkout's ``poolbench/train/loop.py`` beside this one's (its relative imports resolve to this
tree's ``build`` and ``inputs``, so the two checkouts must agree there) and times both on the same
random CIFAR-shaped data and the same model (built from the same seed), alternating A, B / B, A
every round, so the load hits both alike. It reports, per model, each side's median ms per
training step and per 1000 evaluated images, and the median of the per-round ratios this / other.

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/step_ab.py --other /path/to/other/src \
        --models resnet20,cnn4:width=4 --rounds 21 --out benchmarks/results/step-ab-DATE-cpu.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import inspect
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from poolbench import bench
from poolbench.cli._args import parse_value
from poolbench.train import Protocol, RunConfig, loop
from poolbench.train.build import build_model, make_optimizer, to_channels_last
from poolbench.train.inputs import RunData
from poolbench.train.provenance import git_commit

Side = tuple[Callable[[], None], Callable[[], None]]  # (one epoch of --steps steps, one evaluation)


def load_other_loop(src: Path) -> ModuleType:
    """The other checkout's ``poolbench/train/loop.py`` as a module of this tree's ``poolbench.train``."""
    spec = importlib.util.spec_from_file_location("poolbench.train._other_loop", src / "poolbench/train/loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def side(steps_of: ModuleType, model_spec: str, data: RunData, eval_images: int, device: torch.device) -> Side:
    """A fresh model (seed 0; ``name:key=value:...`` sets model arguments) and optimizer, trained and
    evaluated by ``steps_of``'s functions; a step module that takes one run's config (not a list of
    members) gets the config itself."""
    name, *args = model_spec.split(":")
    model_args = {k: parse_value(v) for k, v in (a.split("=", 1) for a in args)}
    config = RunConfig(
        model=name, dataset="synthetic", protocol=Protocol(epochs=1, batch_size=128), model_args=model_args
    )
    takes_members = "members" in inspect.signature(steps_of.train_epoch).parameters
    members = [config] if takes_members else config
    model = to_channels_last(build_model(config, data).to(device))
    opt = make_optimizer(model, config)
    epoch = [0]
    x, y = data.test_x[:eval_images], data.test_y[:eval_images]

    def train() -> None:
        epoch[0] += 1
        steps_of.train_epoch(model, opt, data, members, epoch[0], device)

    def evaluate() -> None:
        steps_of.evaluate(model, x, y, data, members, device)

    return train, evaluate


def timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, required=True, help="the other checkout's src folder")
    ap.add_argument("--models", default="resnet20", help="comma-separated; cnn4:width=4 sets model arguments")
    ap.add_argument("--steps", type=int, default=5, help="training steps per round")
    ap.add_argument("--eval-images", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, help="write the Markdown here too")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    other = load_other_loop(args.other)
    other_commit = subprocess.run(
        ["git", "-C", str(args.other), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    data = bench._random_data(args.steps * 128, args.eval_images, device)
    started, load_start = dt.datetime.now(dt.timezone.utc), tuple(round(v, 2) for v in os.getloadavg())
    lines = []
    for model_name in args.models.split(","):
        sides = {"this": side(loop, model_name, data, args.eval_images, device)}
        sides["other"] = side(other, model_name, data, args.eval_images, device)
        for train, evaluate in sides.values():  # warm-up, untimed
            train()
            evaluate()
        step: dict[str, list[float]] = {"this": [], "other": []}
        ev: dict[str, list[float]] = {"this": [], "other": []}
        for r in range(args.rounds):
            for name in ("this", "other") if r % 2 == 0 else ("other", "this"):
                train, evaluate = sides[name]
                step[name].append(1000 * timed(train, device) / args.steps)
                ev[name].append(1000 * 1000 * timed(evaluate, device) / args.eval_images)
        step_ratio = statistics.median(a / b for a, b in zip(step["this"], step["other"], strict=True))
        eval_ratio = statistics.median(a / b for a, b in zip(ev["this"], ev["other"], strict=True))
        lines.append(
            f"| {model_name} | {statistics.median(step['other']):.2f} | {statistics.median(step['this']):.2f} "
            f"| {step_ratio:.3f} | {statistics.median(ev['other']):.1f} | {statistics.median(ev['this']):.1f} "
            f"| {eval_ratio:.3f} |"
        )
        print(lines[-1], flush=True)
    load_end = tuple(round(v, 2) for v in os.getloadavg())
    command = shlex.join(["python", "benchmarks/step_ab.py", *sys.argv[1:]])
    text = "\n".join(
        [
            "# The training step and evaluation of two checkouts, A/B in one process (benchmarks/step_ab.py)",
            "",
            f"- date: {started:%Y-%m-%d %H:%M:%S} UTC",
            f"- device: {args.device} ({platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads), "
            f"torch {torch.__version__}",
            f"- this: commit {git_commit()}; other: commit {other_commit or '?'} ({args.other})",
            f"- command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} PYTHONPATH=src {command}`",
            f"- load average (1, 5, 15 min) at start {load_start}, at end {load_end}",
            f"- per round: {args.steps} training steps of batch 128 (fp32, channels_last, eager, SGD) and "
            f"{args.eval_images} test images, each side, the order alternated every round; "
            f"{args.rounds} rounds after one untimed round; medians",
            "",
            "| model | other ms/step | this ms/step | this/other (median of rounds) "
            "| other eval ms/1k | this eval ms/1k | this/other |",
            "|---|---|---|---|---|---|---|",
            *lines,
            "",
        ]
    )
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
