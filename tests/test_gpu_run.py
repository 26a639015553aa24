"""benchmarks/gpu_run.sh on the CPU with tiny sizes (``--tiny``): every phase of the GPU session runs,
and the few files the device tool brings back are there, so the script cannot rot between GPU loans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.data.test_idx_reader import write_idx_set  # tiny Fashion-MNIST-format files

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_run_dry_run_on_cpu_writes_every_phase(tmp_path):
    write_idx_set(tmp_path / "data" / "fashion-mnist", n_train=300, n_test=150)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            "bash",
            "benchmarks/gpu_run.sh",
            "--device",
            "cpu",
            "--tiny",
            "--budget-s",
            "240",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", POOLBENCH_CACHE=str(tmp_path / "cache")),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # what the device tool brings back: at most 8 plain files, no folders, plain names
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.is_file() for f in files)
    names = {f.name for f in files}
    assert {"summary.md", "env.json", "runs.tar.gz", "logs.tar.gz"} <= names

    summary = (out / "summary.md").read_text()
    assert "TINY CPU DRY RUN" in summary and "| tests | ok |" in summary and "| runs | ok |" in summary
    assert "0 failed" in summary and "skipped" in summary  # the cuda tests skip here, with their reason

    bench = json.loads(next(f for f in files if f.suffix == ".json" and f.name != "env.json").read_text())
    paths = {(r["path"], r["k"], r["amp"]) for r in bench["rows"]}
    assert {
        ("dataloader", 1, "none"),
        ("baseline", 1, "none"),
        ("poolbench", 1, "none"),
        ("packed", 2, "none"),
        ("packed", 2, "bf16"),
    } <= paths
    assert len(bench["parts"]) == 2 and all(p["command"].startswith("poolbench bench") for p in bench["parts"])
    assert bench["commit"] and bench["device"].startswith("cpu")

    with tarfile.open(out / "runs.tar.gz") as tar:
        members = tar.getnames()
        results = [json.load(tar.extractfile(m)) for m in members if m.endswith("/result.json")]
    assert len(results) == 2 and all(r["status"] == "finished" for r in results)
    assert all(r["protocol_label"].startswith("non-standard") for r in results)  # tiny: never a standard run
    assert not any(m.endswith(".pt") for m in members)  # no checkpoints come back
    assert all(any(m.endswith(f"/{f}") for m in members) for f in ("config.json", "metrics.jsonl"))
    with tarfile.open(out / "logs.tar.gz") as tar:
        assert {"logs/cuda-tests.log", "logs/runs.log", "logs/bench-part0.log"} <= set(tar.getnames())


def test_gpu_run_refuses_a_missing_out_folder_in_one_line(capsys):
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_run.py", "--device", "cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "give --out DIR" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
