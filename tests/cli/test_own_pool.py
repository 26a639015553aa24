"""A researcher's own pool file through check, run, sweep (packed too) and the benchmark's harness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from poolbench.cli import main

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples"
TINY = ["--seeds", "0", "--epochs", "1", "--train-subset", "64", "--test-subset", "32", "--no-progress"]


def _results(runs: Path):
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*/result.json"))]


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_run_checks_the_pool_first_and_refuses_a_failing_one(tmp_path, capsys):
    """A pool that is NaN on 1x1 maps is refused before any training (exit 2, the --no-check way out named),
    and a pool file given without `:CustomPool` names its class by default."""
    rc = main(
        [
            "run",
            "--model",
            "mobilenetv2",
            "--dataset",
            "synthetic",
            "--pool-file",
            str(EX / "broken_std_pool.py"),
            "--runs-dir",
            str(tmp_path),
            *TINY,
            "--device",
            "cpu",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "random" in err and "NaN output on 1x1 map" in err and "--no-check" in err
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_a_widened_pool_without_feat_mult_is_caught_with_the_fix(tmp_path, capsys):
    rc = main(
        [
            "run",
            "--model",
            "resnet20",
            "--dataset",
            "synthetic",
            "--pool-file",
            f"{EX / 'wide_pool.py'}:CustomPool",
            "--runs-dir",
            str(tmp_path),
            *TINY,
            "--device",
            "cpu",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "define `def feat_mult(self): return 2` on CustomPool" in err and "mat1 and mat2" not in err


def test_a_missing_pool_file_or_class_is_one_line(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--pool-file",
                str(tmp_path / "nope.py"),
                "--runs-dir",
                str(tmp_path),
                *TINY,
            ]
        )
        == 2
    )
    assert "pool file not found" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--pool-file",
                f"{EX / 'custom_pool.py'}:Nope",
                "--runs-dir",
                str(tmp_path),
                *TINY,
            ]
        )
        == 2
    )
    assert "no class 'Nope'" in capsys.readouterr().err


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_a_lazily_built_scaffold_pool_trains_its_parameters(tmp_path):
    """The scaffold's CustomPool() creates its weight on the first input; the optimizer must see it."""
    rc = main(
        [
            "run",
            "--model",
            "resnet20",
            "--dataset",
            "synthetic",
            "--pool-file",
            str(EX / "custom_pool.py"),
            "--runs-dir",
            str(tmp_path),
            *TINY,
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    (result,) = _results(tmp_path)
    assert result["status"] == "finished"
    (ckpt,) = tmp_path.glob("*/checkpoint.pt")
    state = torch.load(ckpt, weights_only=True)
    logit = state["model"]["head.pool.logit"]
    assert logit.shape == (64,) and logit.abs().max() > 0  # trained away from its init 0
    cfg = json.loads(next(tmp_path.glob("*/config.json")).read_text())
    assert cfg["pool_file"] == f"{(EX / 'custom_pool.py').resolve()}:CustomPool" and len(cfg["pool_file_sha"]) == 16


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_sweep_takes_pool_files_and_packs_scaffold_pools(tmp_path, capsys):
    rc = main(
        [
            "sweep",
            "--pools",
            f"avg,{EX / 'custom_pool.py'},{EX / 'sliced_pool.py'}",
            "--models",
            "resnet20",
            "--datasets",
            "synthetic",
            "--pack",
            "2",
            "--runs-dir",
            str(tmp_path),
            *TINY,
            "--seeds",
            "0-1",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "6 runs: 0 skipped (already done), 6 finished, 0 diverged, 0 failed" in out
    assert "custom_pool.py:CustomPool@" in out and "sliced_pool.py:CustomPool@" in out
    packed = [json.loads(p.read_text()) for p in tmp_path.glob("*/pack.json")]
    assert packed, "the scaffold pools were not packed"


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_sweep_refuses_a_failing_pool_file_before_training_anything(tmp_path, capsys):
    rc = main(
        [
            "sweep",
            "--pools",
            f"avg,{EX / 'broken_std_pool.py'}",
            "--models",
            "mobilenetv2",
            "--datasets",
            "synthetic",
            "--runs-dir",
            str(tmp_path),
            *TINY,
        ]
    )
    assert rc == 2
    assert "NaN output on 1x1 map" in capsys.readouterr().err
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_check_pool_is_importable_from_pools():
    from poolbench.pools import check_pool

    assert check_pool("avg", channels=(8,), compile=False, onnx=False).passed


def test_check_lda_with_fitted_weights_checks_the_fitted_map_size(tmp_path, capsys):
    from poolbench.pools.lda import save_lda_weights

    p = torch.rand(64)
    f = save_lda_weights(tmp_path / "p.pt", p / p.sum())  # fitted for 8x8 maps
    rc = main(["check", "lda", "--pool-arg", f"weights={f}", "--no-compile", "--no-onnx", "--channels", "64"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "8x8 maps only" in out


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_the_benchmarks_harness_command_line_trains_a_pool_file(tmp_path, capsys):
    rc = main(
        [
            "harness",
            str(EX / "custom_pool.py"),
            "--arch",
            "resnet20",
            "--dataset",
            "synthetic",
            "--seed",
            "42",
            "--epochs",
            "1",
            "--train-subset",
            "64",
            "--test-subset",
            "32",
            "--runs-dir",
            str(tmp_path),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "arch=resnet20 dataset=synthetic seed=42" in out and "best test acc:" in out
    assert "epoch   1/1" in out


@pytest.mark.slow
def test_python_m_poolbench_harness_and_the_pool_files_own_main(tmp_path):
    common = [
        "--arch",
        "resnet20",
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--train-subset",
        "64",
        "--test-subset",
        "32",
        "--runs-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    env = {"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    env.update({k: os.environ[k] for k in ("HOME", "POOLBENCH_CACHE")})  # the session's temporary cache
    a = subprocess.run(
        [sys.executable, "-m", "poolbench.harness", str(EX / "custom_pool.py"), *common],
        capture_output=True,
        text=True,
        env=env,
    )
    assert a.returncode == 0, a.stderr
    b = subprocess.run([sys.executable, str(EX / "custom_pool.py"), *common], capture_output=True, text=True, env=env)
    assert b.returncode == 0, b.stderr
    assert "already done" in b.stdout or b.stdout.count("best test acc") == 1


def test_a_pool_file_that_raises_at_import_is_one_line_naming_its_line_for_run_and_sweep(tmp_path, capsys):
    path = tmp_path / "my_pool.py"
    path.write_text('import torch\n\nraise RuntimeError("boom at import")\n')
    for argv in (
        ["run", "--model", "resnet20", "--dataset", "synthetic", "--pool-file", str(path)],
        ["sweep", "--models", "resnet20", "--datasets", "synthetic", "--pools", str(path)],
    ):
        assert main([*argv, "--runs-dir", str(tmp_path / "runs"), *TINY]) == 2
        err = capsys.readouterr().err
        assert "RuntimeError: boom at import (my_pool.py, line 3)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
