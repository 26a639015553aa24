"""Fake run directories in exactly the documented format (docs/ARCHITECTURE.md, "Runs").

``config.json`` comes from the real ``RunConfig`` (so its run id, protocol label and standard flag
are the trainer's own); ``metrics.jsonl`` is a learning curve built so that the best, final and
best-validation accuracies are the numbers the test asked for.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

from poolbench.train.config import RunConfig
from poolbench.train.protocol import Protocol
from poolbench.train.resolve import resolve


def fake_png(seed: int = 0, size: int = 32) -> bytes:
    """A small heat-map-like PNG standing in for ``pool_weights.png``."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    w = np.exp(-((xx - 0.25 - 0.25 * (seed % 3)) ** 2 + (yy - 0.6) ** 2) / 0.08)
    rgb = np.stack([255 * w, 80 + 100 * (1 - w), 255 * (1 - w)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def curve(best: float, final: float, epochs: int, best_epoch: int, seed: int = 0) -> list[float]:
    """Test accuracy per epoch: a saturating rise (with a little seed-dependent wobble) ending at
    ``final``, whose maximum ``best`` is at ``best_epoch``."""
    assert best >= final and 1 <= best_epoch <= epochs
    tau = max(epochs / 4, 1.0)
    rise = [(1 - math.exp(-e / tau)) / (1 - math.exp(-epochs / tau)) for e in range(1, epochs + 1)]
    accs = [
        10.0 + (final - 10.0) * r - 1.0 - 0.6 * math.sin(seed + e)
        for e, r in zip(range(1, epochs + 1), rise, strict=True)
    ]
    accs[-1] = final
    accs[best_epoch - 1] = best
    return accs


def write_run(
    runs_dir: Path,
    model: str = "resnet56",
    dataset: str = "cifar100",
    pool: str = "avg",
    seed: int = 0,
    best: float | None = 70.0,
    final: float | None = None,
    pool_args: dict[str, Any] | None = None,
    protocol: dict[str, Any] | None = None,
    val_split: int = 0,
    at_best_val: float | None = None,
    status: str = "finished",
    epochs: int = 6,
    images: tuple = (),
    pool_file: str | None = None,
    **config_kw: Any,
) -> Path:
    """Write one run directory; return it.

    ``protocol``: deviations from the standard protocol (None = standard); ``epochs`` is only the
    number of metric lines written (a standard run would have 200).
    ``status``: finished | diverged | failed | unfinished (no result.json; ``epochs`` lines so far).
    With ``val_split``, ``at_best_val`` is the test accuracy at the epoch of best val accuracy.
    """
    # fake runs name datasets that are not on disk: a stand-in fingerprint, one per dataset + selection
    config_kw.setdefault(
        "data_fingerprint",
        hashlib.sha256(json.dumps([dataset, protocol, val_split], sort_keys=True).encode()).hexdigest()[:16],
    )
    cfg = RunConfig(  # resolved below: the data fingerprint is given, a pool file is hashed
        model=model,
        dataset=dataset,
        pool=pool,
        pool_args=pool_args or {},
        seed=seed,
        protocol=Protocol(**(protocol or {})),
        val_split=val_split,
        pool_file=pool_file,
        **config_kw,
    )
    cfg = resolve(cfg)
    run_dir = Path(runs_dir) / cfg.run_id
    run_dir.mkdir(parents=True)
    config = cfg.to_dict() | {"run_id": cfg.run_id, "protocol_label": cfg.protocol_label(), "standard": cfg.is_standard}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))

    final = best if final is None else final
    n_epochs = epochs if status != "diverged" else max(1, epochs // 2)
    best_epoch = epochs - 1 if best is not None and best > final else epochs
    accs = curve(best, final, epochs, best_epoch, seed) if best is not None else [10.0] * epochs
    val_best_epoch = None
    if val_split and at_best_val is not None:
        val_best_epoch = max(1, epochs - 2)  # the test accuracy there is what the caller asked for
        accs[val_best_epoch - 1] = at_best_val
    lines = []
    for e in range(1, n_epochs + 1):
        val = None
        if val_split:
            val = 80.0 if e == val_best_epoch else 50.0 + e
        lines.append(
            {
                "epoch": e,
                "lr": 0.1,
                "train_loss": 1.0 / e,
                "train_acc": accs[e - 1] + 5,
                "test_loss": 1.5 / e,
                "test_acc": accs[e - 1],
                "val_acc": val,
                "epoch_time_s": 1.25,
            }
        )
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    for name in images:
        (run_dir / name).write_bytes(fake_png(seed))
    if status == "unfinished":
        return run_dir

    ok = status == "finished"
    result = {
        "status": status,
        "run_id": cfg.run_id,
        "best_test_acc": best if ok else None,
        "best_epoch": (accs.index(max(accs)) + 1) if ok else None,
        "final_test_acc": final if ok else None,
        "test_acc_at_best_val": (at_best_val if val_split else None) if ok else None,
        "epochs_completed": n_epochs,
        "diverged_at_epoch": n_epochs if status == "diverged" else None,
        "error": "RuntimeError: boom" if status == "failed" else None,
        "provenance": {
            "git_commit": "abc1234",
            "torch_version": "2.13.0",
            "device": "cpu",
            "wall_time_s": 12.5,
            "date": "2025-01-02T03:04:05",
            "hostname": "testhost",
            "poolbench_version": "0.1.0",
        },
    }
    (run_dir / "result.json").write_text(json.dumps(result, indent=2))
    return run_dir


# Known accuracies for a small benchmark: {(pool, column): [best per seed 0, 1, 2]}
STANDARD_BEST = {
    ("avg", "resnet56-cifar100"): [70.0, 70.4, 70.2],
    ("gem", "resnet56-cifar100"): [72.3, 72.5, 72.4],  # clearly best
    ("max", "resnet56-cifar100"): [69.9],  # one seed
    ("avg", "mobilenetv2-fashion_mnist"): [94.5, 94.9],
    ("gem", "mobilenetv2-fashion_mnist"): [94.6, 94.7],  # best by a hair, does not beat avg
}


def write_benchmark(runs_dir: Path, images: bool = True, epochs: int = 6) -> Path:
    """The standard-protocol runs above, plus a diverged run, an unfinished one and a
    non-standard group; gem runs carry a pool_weights.png."""
    runs_dir = Path(runs_dir)
    for (pool, col), bests in STANDARD_BEST.items():
        model, dataset = col.split("-")
        for seed, b in enumerate(bests):
            write_run(
                runs_dir,
                model,
                dataset,
                pool,
                seed=seed,
                best=b,
                final=b - 0.3,
                epochs=epochs,
                images=("pool_weights.png",) if images and pool == "gem" else (),
            )
    write_run(runs_dir, "resnet56", "cifar100", "max", seed=1, status="diverged", epochs=epochs)
    write_run(runs_dir, "resnet56", "cifar100", "avg", seed=3, status="unfinished", epochs=epochs)
    # a short CPU protocol: must never be mixed with the standard cells
    for seed, b in enumerate([55.0, 56.0]):
        write_run(
            runs_dir,
            "resnet56",
            "cifar100",
            "gem",
            seed=seed,
            best=b,
            epochs=6,
            protocol={"epochs": 6, "train_subset": 5000},
        )
    return runs_dir
