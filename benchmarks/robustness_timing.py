"""How long generating and evaluating CIFAR-10-C / -P takes on this machine (a timing, not a test).

Generates every corruption (19 x 5 severities) and every sequence file (20) for N CIFAR-10 test
images (the real JPEG copy), then scores a resnet20 (untrained weights: the time does not depend on
them) on them with one CPU thread, and writes the seconds per step as JSON with provenance. Run it
with ``nice`` on a shared machine; extrapolate linearly to 10,000 images (every step is per image).

    PYTHONPATH=src OMP_NUM_THREADS=1 nice -n 10 python benchmarks/robustness_timing.py --n 200 \\
        --data-path ../shared/data/cifar10-jpg.tar.gz --out benchmarks/results/robustness_timing_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from poolbench.data.augment import normalize
from poolbench.data.datasets import load_dataset
from poolbench.models import create_model
from poolbench.robustness import corruptions, evaluate, perturbations, sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--data-path", default="../shared/data/cifar10-jpg.tar.gz")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("imagefolder", data_path=args.data_path)
    x, y = evaluate.select_images(ds.test_x, ds.test_y, args.n)
    imgs, labels = x.permute(0, 2, 3, 1).numpy().copy(), y.numpy()
    res = {"n": args.n, "gen_c": {}, "gen_p": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in corruptions.CORRUPTIONS:
            t = time.time()
            sets.generate_c(imgs, labels, Path(tmp), [name], seed=0)
            res["gen_c"][name] = time.time() - t
        for name in perturbations.SEQUENCES:
            t = time.time()
            sets.generate_p(imgs, Path(tmp), [name], seed=0)
            res["gen_p"][name] = time.time() - t
        model = create_model("resnet20", num_classes=10, pool="avg").eval()
        c_dir = sets.generate_c(imgs, labels, Path(tmp), list(corruptions.CORRUPTIONS), seed=0)
        p_dir = sets.generate_p(imgs, Path(tmp), list(perturbations.SEQUENCES), seed=0)
        cpu = torch.device("cpu")

        def to_input(x):
            return normalize(x, ds.mean, ds.std)  # the benchmark protocol's inputs

        t = time.time()
        evaluate.corruption_errors(
            model, imgs, labels, c_dir, list(corruptions.CORRUPTIONS), [1, 2, 3, 4, 5], to_input, cpu
        )
        res["eval_c"] = time.time() - t
        t = time.time()
        evaluate.flip_statistics(model, p_dir, list(perturbations.SEQUENCES), to_input, cpu)
        res["eval_p"] = time.time() - t
    res["gen_c_total"], res["gen_p_total"] = sum(res["gen_c"].values()), sum(res["gen_p"].values())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res["provenance"] = {
        "commit": commit,
        "torch": torch.__version__,
        "device": "cpu, 1 thread",
        "machine": platform.platform(),
        "model": "resnet20 (avg pool, untrained)",
        "protocol": "NON-STANDARD timing (generation + evaluation only)",
    }
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
