"""The engine on a CUDA GPU: a run SIGKILLed mid-training resumes to exactly the metrics of one never
killed, under deterministic algorithms (as tests/train/test_engine.py checks on CPU).

Both runs are ``poolbench run`` processes with the same settings: ``CUBLAS_WORKSPACE_CONFIG`` and
``torch.use_deterministic_algorithms(True)`` (cuDNN then picks deterministic kernels; ``warn_only``
so an op without a deterministic CUDA kernel warns instead of failing, and the exact comparison
below is what tells whether it mattered). Without them, atomics in some backward kernels make two
uninterrupted CUDA runs differ in the last bits, and such a test could not fail for the right reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolbench.train import Protocol, RunConfig

pytestmark = pytest.mark.cuda

SRC = Path(__file__).resolve().parents[2] / "src"
# 4 epochs of 40 steps (the synthetic set's 5000 images): long enough on a GPU to be killed mid-run
ARGS = [
    "run",
    "--model",
    "resnet20",
    "--dataset",
    "synthetic",
    "--pool",
    "gem",
    "--seeds",
    "0",
    "--epochs",
    "4",
    "--test-subset",
    "1000",
    "--device",
    "cuda",
    "--channels-last",
    "--no-progress",
]
CFG = RunConfig(
    model="resnet20", dataset="synthetic", pool="gem", seed=0, protocol=Protocol(epochs=4, test_subset=1000)
)
DETERMINISTIC = (
    "import sys, torch; torch.use_deterministic_algorithms(True, warn_only=True); "
    "from poolbench.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _launch(runs: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        CUBLAS_WORKSPACE_CONFIG=":4096:8",
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.Popen(
        [sys.executable, "-c", DETERMINISTIC, *ARGS, "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _metrics(run_dir: Path):
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    for r in recs:
        r.pop("epoch_time_s")
    return recs


def test_sigkill_then_resume_gives_identical_metrics_on_cuda(tmp_path):
    ref = _launch(tmp_path / "ref")
    _, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err.decode()[-2000:]
    run_dir = tmp_path / "killed" / CFG.run_id
    proc = _launch(tmp_path / "killed")
    deadline = time.time() + 240
    while time.time() < deadline and not (run_dir / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.05)  # into epoch two
    assert proc.poll() is None, "the run ended before it could be killed: give it more images"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists(), "killed mid-run: no result yet"
    resumed = _launch(tmp_path / "killed")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    assert _metrics(run_dir) == _metrics(tmp_path / "ref" / CFG.run_id)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "finished" and not result["provenance"]["device"].startswith("cpu")
