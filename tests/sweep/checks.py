"""What a complete sweep leaves on disk, checked the same way for every executor."""

from __future__ import annotations

from pathlib import Path

from poolbench.runs import RunDir
from poolbench.train.resolve import resolve


def assert_complete_and_unduplicated(runs_dir, configs) -> None:
    """One directory per run id and nothing else; one finished result; epochs 1..E, each once."""
    runs_dir = Path(runs_dir)
    configs = [resolve(c) for c in configs]
    assert sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) == sorted(c.run_id for c in configs)
    for cfg in configs:
        rd = RunDir(runs_dir, cfg.run_id)
        result = rd.read_result()
        assert result["status"] == "finished", (cfg.run_id, result.get("error"))
        assert result["run_id"] == cfg.run_id and result["epochs_completed"] == cfg.protocol.epochs
        assert 0.0 <= result["best_test_acc"] <= 100.0
        assert [m["epoch"] for m in rd.read_metrics()] == list(range(1, cfg.protocol.epochs + 1))
        assert len(list(rd.path.glob("result*.json"))) == 1 and not list(rd.path.glob(".*.tmp"))
