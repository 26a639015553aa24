"""A smoke test of the throughput benchmark: one step of every path, files with provenance.

It asserts nothing about speed (a measurement is a benchmark with its output committed).
"""
from __future__ import annotations

import json

from poolbench.bench import BenchConfig, format_table, run_bench, write_results
from poolbench.cli import main


def test_bench_runs_every_path_and_writes_provenance(tmp_path):
    bc = BenchConfig(models=["resnet20"], packs=(1, 2), steps=1, warmup=1, rounds=1, eval_images=8,
                     batch_size=8, device="cpu")
    result = run_bench(bc, log=lambda s: None)
    rows = {(r["path"], r["k"]): r for r in result["rows"]}
    assert set(rows) == {("baseline", 1), ("poolbench", 1), ("packed", 2)}
    for r in rows.values():
        assert r["steps_per_s"] > 0 and r["images_per_s"] > 0 and r["min_per_run"] > 0 and r["speedup"] > 0
    assert rows[("packed", 2)]["images_per_s"] == 2 * 8 * rows[("packed", 2)]["steps_per_s"]
    assert result["device"].startswith("cpu") and result["torch"] and result["commit"]
    result["command"] = "test"
    js, md = write_results(result, tmp_path)
    assert json.loads(js.read_text())["rows"] and "| resnet20 | packed | 2 |" in md.read_text()
    assert "commit" in md.read_text() and "resnet20" in format_table(result)


def test_bench_command(tmp_path, capsys):
    assert main(["bench", "--models", "resnet20", "--packs", "1", "--steps", "1", "--warmup", "1",
                 "--rounds", "1", "--eval-images", "4", "--batch-size", "4", "--device", "cpu",
                 "--no-baseline", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| resnet20 | poolbench | 1 |" in out and len(list(tmp_path.glob("*.json"))) == 1
