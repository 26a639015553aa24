"""Tiny trained runs shared by the fit-lda / robustness / show CLI tests (trained once per session:
``train_run`` skips a finished run, and every caller uses the same session directory)."""

from __future__ import annotations

from pathlib import Path

from poolbench.train import Protocol, RunConfig
from poolbench.train.engine import train_run
from poolbench.train.resolve import resolve

TINY = Protocol(epochs=1, train_subset=256, test_subset=128)


def tiny_run(tmp_path_factory, pool: str = "flex", **kw) -> Path:
    runs = tmp_path_factory.getbasetemp() / "seed_runs"
    cfg = resolve(
        RunConfig(**{"model": "resnet20", "dataset": "synthetic", "pool": pool, "seed": 0, "protocol": TINY, **kw})
    )
    result = train_run(cfg, runs, device="cpu", progress=False)
    assert result["status"] == "finished"
    return runs / cfg.run_id
