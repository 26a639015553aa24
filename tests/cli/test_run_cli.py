"""``poolbench run`` end to end: real data (when ../shared is present), user pool files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolbench.cli import main

REPO = Path(__file__).resolve().parents[2]
SHORT = ["--epochs", "1", "--train-subset", "512", "--test-subset", "256", "--no-progress", "--device", "cpu"]


def _results(runs: Path):
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*/result.json"))]


@pytest.mark.realdata
def test_resnet20_trains_on_the_real_cifar10_jpeg_copy(shared_cifar10, tmp_path, capsys):
    rc = main(
        [
            "run",
            "--seeds",
            "0",
            "--model",
            "resnet20",
            "--dataset",
            "imagefolder",
            "--data-path",
            str(shared_cifar10),
            "--runs-dir",
            str(tmp_path),
            *SHORT,
        ]
    )
    assert rc == 0
    (result,) = _results(tmp_path)
    assert result["status"] == "finished" and 0 <= result["best_test_acc"] <= 100
    assert result["standard"] is False and "epochs=1" in result["protocol_label"]
    assert "non-standard" in capsys.readouterr().out


@pytest.mark.realdata
def test_mobilenetv2_trains_on_the_real_fashion_mnist(shared_fmnist, tmp_path):
    rc = main(
        [
            "run",
            "--seeds",
            "0",
            "--model",
            "mobilenetv2",
            "--dataset",
            "fashion_mnist",
            "--data-dir",
            str(shared_fmnist),
            "--runs-dir",
            str(tmp_path),
            *SHORT,
        ]
    )
    assert rc == 0
    (result,) = _results(tmp_path)
    assert result["status"] == "finished"
    cfg = json.loads(next(tmp_path.glob("*/config.json")).read_text())
    assert cfg["model"] == "mobilenetv2" and cfg["dataset"] == "fashion_mnist"


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_a_nan_pool_on_a_1x1_map_is_recorded_as_diverged(tmp_path):
    """The benchmark lost VGG/MobileNetV2 submissions to an unbiased std over one element (trained here
    past the contract check, which refuses it by default: tests/cli/test_own_pool.py)."""
    broken = REPO / "examples" / "broken_std_pool.py"
    rc = main(
        [
            "run",
            "--seeds",
            "0",
            "--model",
            "mobilenetv2",
            "--dataset",
            "synthetic",
            "--pool-file",
            f"{broken}:CustomPool",
            "--no-check",
            "--runs-dir",
            str(tmp_path),
            "--epochs",
            "2",
            "--train-subset",
            "256",
            "--test-subset",
            "128",
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert rc == 1  # a diverged run: exit 1, as harness (docs/training.md lists the exit statuses)
    (result,) = _results(tmp_path)
    assert result["status"] == "diverged" and result["diverged_at_epoch"] == 1
    assert result["best_test_acc"] is None


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, tmp_path_factory, capsys):
    with pytest.raises(SystemExit) as unknown_pool:  # a name the parser knows is wrong, before torch loads
        main(["run", "--seeds", "0", "--model", "resnet20", "--dataset", "synthetic", "--pool", "gme"] + SHORT)
    assert unknown_pool.value.code == 2
    err = capsys.readouterr().err
    assert "--pool: 'gme' is not a pool" in err and "gem" in err and len(err.strip().splitlines()) == 1
    assert (
        main(
            [
                "run",
                "--seeds",
                "0",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--pool-arg",
                "p3",
                "--runs-dir",
                str(tmp_path),
                *SHORT,
            ]
        )
        == 2
    )
    assert "KEY=VALUE" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "--seeds",
                "0",
                "--model",
                "resnet20",
                "--dataset",
                "cifar100",
                "--data-dir",
                str(tmp_path_factory.mktemp("nodata")),
                "--runs-dir",
                str(tmp_path),
                *SHORT,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cifar-100-python.tar.gz" in err and "eb9058c3a382ffc7106e4002c42a8d85" in err
    assert not any(tmp_path.iterdir())


def test_default_seeds_are_the_benchmarks_published_three():
    from poolbench.cli import build_parser
    from poolbench.results.published import SEEDS
    from poolbench.train.protocol import BENCHMARK_SEEDS

    assert BENCHMARK_SEEDS == SEEDS == (42, 123, 456)
    parser = build_parser()
    assert parser.parse_args(["run", "--model", "resnet20", "--dataset", "synthetic"]).seeds == [42, 123, 456]
    assert parser.parse_args(["run", "--model", "resnet20", "--dataset", "synthetic", "--seeds", "0-1"]).seeds == [0, 1]
    from poolbench.sweep import parse_seeds

    assert parse_seeds(parser.parse_args(["sweep", "--pools", "avg"]).seeds) == [42, 123, 456]


@pytest.mark.parametrize("command", ["run", "sweep", "harness"])
def test_a_data_path_that_cannot_be_read_is_refused_before_any_run_id_is_resolved(
    tmp_path, capsys, monkeypatch, no_hang, command
):
    import os

    from poolbench.train import resolve as resolve_module

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    mat = tmp_path / "train_32x32.mat"
    mat.write_bytes(b"a file, not the folder svhn wants")
    resolved = []
    real = resolve_module.data_identity
    monkeypatch.setattr(
        resolve_module, "data_identity", lambda selection, **kw: resolved.append(selection) or real(selection, **kw)
    )
    pool_file = str(Path(__file__).resolve().parents[2] / "examples" / "custom_pool.py")
    for dataset, path, problem in (
        ("cifar10", fifo, "not a regular file or a folder"),
        ("svhn", mat, "is a file; give the folder holding"),
    ):
        common = ["--data-path", str(path), "--epochs", "1", "--runs-dir", str(tmp_path / "runs")]
        argv = {
            "run": ["run", "--model", "resnet20", "--dataset", dataset, "--seeds", "0", *common],
            "sweep": [
                "sweep",
                "--models",
                "resnet20",
                "--pools",
                "avg",
                "--datasets",
                dataset,
                "--seeds",
                "0",
                *common,
            ],
            "harness": ["harness", pool_file, "--arch", "resnet20", "--dataset", dataset, *common],
        }[command]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert problem in err and str(path) in err and len(err.strip().splitlines()) == 1
    assert not resolved and not (tmp_path / "runs").exists()


def test_exit_status_is_1_when_a_run_diverged_as_the_harness(tmp_path, monkeypatch, capsys):
    """run and harness agree: 0 finished, 1 diverged (docs/training.md lists the exit codes)."""
    import poolbench.executors.base as base
    import poolbench.train.engine as engine

    calls = []

    def fake(cfg, runs_dir, **kw):
        calls.append(kw.get("progress"))
        status = "diverged" if cfg.seed == 1 else "finished"
        done = {"best_test_acc": 50.0, "best_epoch": 1, "final_test_acc": 50.0}
        return {"status": status, "diverged_at_epoch": 1 if status == "diverged" else None, **done}

    monkeypatch.setattr(base, "train_run", fake)  # run trains through the executors' task body
    monkeypatch.setattr(engine, "train_run", fake)  # the harness calls the engine itself
    argv = ["run", "--model", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--train-subset", "32"]
    argv += ["--test-subset", "32", "--runs-dir", str(tmp_path), "--no-progress"]
    assert main(argv + ["--seeds", "0"]) == 0
    assert main(argv + ["--seeds", "0,1"]) == 1
    assert "diverged at epoch 1" in capsys.readouterr().out
    harness = ["harness", str(REPO / "examples" / "custom_pool.py"), "--arch", "resnet20", "--dataset", "synthetic"]
    harness += ["--epochs", "1", "--train-subset", "32", "--test-subset", "32", "--runs-dir", str(tmp_path)]
    assert main(harness + ["--seed", "1"]) == 1 and main(harness + ["--seed", "0"]) == 0
    assert calls[-1] is True  # the harness asks for a bar (drawn on a terminal only)


RUN_TINY = ["--model", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--train-subset", "32"]
RUN_TINY += ["--test-subset", "32", "--no-progress", "--device", "cpu"]


def test_run_and_sweep_train_through_the_same_executor_path(tmp_path, monkeypatch, capsys):
    import poolbench.executors.base as base
    from tests.sweep.fakes import FakeEngine

    engine, tasks, task_body = FakeEngine(), [], base.run_task

    def recording(configs, runs_dir, **options):
        tasks.append((options["executor"], options["device"], [c.seed for c in configs]))
        return task_body(configs, runs_dir, **options)

    monkeypatch.setattr(base, "run_task", recording)  # the task worker every executor runs
    monkeypatch.setattr(base, "train_run", engine.run)
    runs = ["--runs-dir", str(tmp_path)]
    assert main(["run", *RUN_TINY, "--seeds", "0,1", *runs]) == 0
    sweep = ["sweep", "--pools", "avg", "--models", "resnet20", "--datasets", "synthetic", "--epochs", "1"]
    sweep += ["--train-subset", "32", "--test-subset", "32", "--no-progress", "--seeds", "1,2", *runs]
    assert main(sweep) == 0
    assert tasks == [("local", "cpu", [0]), ("local", "cpu", [1]), ("local", None, [2])]  # seed 1: done
    capsys.readouterr()
    assert main(["run", *RUN_TINY, "--seeds", "2", *runs]) == 0 and len(tasks) == 3  # done: skipped
    assert "already done (finished, best test acc 10.00); not trained again" in capsys.readouterr().out


def test_run_stops_at_the_first_crash_records_it_and_names_it_in_one_line(tmp_path, monkeypatch, capsys):
    import poolbench.executors.base as base
    from poolbench.runs import RunDir

    trained = []

    def damaged(cfg, runs_dir, **kw):
        trained.append(cfg.seed)
        raise (
            ValueError(f"checkpoint of seed {cfg.seed} is damaged; delete it")
            if cfg.seed == 0
            else OSError(28, "No space left on device")
        )

    monkeypatch.setattr(base, "train_run", damaged)
    assert main(["run", *RUN_TINY, "--seeds", "0,1", "--runs-dir", str(tmp_path)]) == 2  # bad input
    err = capsys.readouterr().err.strip()
    assert trained == [0] and len(err.splitlines()) == 1 and "seed 0 is damaged" in err
    (failed,) = [RunDir(tmp_path, p.parent.name).read_result() for p in tmp_path.glob("*/result.json")]
    assert failed["status"] == "failed" and "seed 0 is damaged" in failed["error"]  # as a sweep records it
    assert main(["run", *RUN_TINY, "--seeds", "1", "--runs-dir", str(tmp_path)]) == 1  # a full disk
    assert "no space left on device" in capsys.readouterr().err
