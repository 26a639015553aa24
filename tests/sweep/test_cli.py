"""``poolbench sweep``: dry run, usage errors (exit 2), failures reported but not fatal (exit 0)."""

import pytest

import poolbench.executors.base as base
from poolbench.cli import main
from poolbench.cli.sweep import parse_pool_args
from poolbench.runs import RunDir
from tests.sweep.fakes import FakeEngine

GRID = [
    "sweep",
    "--pools",
    "avg,max",
    "--models",
    "resnet20",
    "--datasets",
    "synthetic",
    "--seeds",
    "0-1",
    "--epochs",
    "2",
    "--train-subset",
    "256",
    "--test-subset",
    "128",
    "--no-progress",
]


@pytest.mark.slow  # trains real tiny runs: 3-8 s on 2 cores
def test_dry_run_lists_the_grid_with_each_status(tmp_path, capsys):
    assert main(GRID + ["--runs-dir", str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("new") for line in lines[:4])
    assert lines[-1] == "4 runs: 4 new, 0 resume, 0 failed, 0 done"
    assert not any(tmp_path.iterdir())  # a dry run writes nothing

    run_id = lines[0].split()[1]
    RunDir(tmp_path, run_id).path.mkdir()
    RunDir(tmp_path, run_id).checkpoint.write_bytes(b"x")
    main(GRID + ["--runs-dir", str(tmp_path), "--dry-run"])
    out = capsys.readouterr().out
    assert f"resume  {run_id}" in out and out.endswith("4 runs: 3 new, 1 resume, 0 failed, 0 done\n")


@pytest.mark.slow  # trains real tiny runs: 3-8 s on 2 cores
def test_sweep_reports_failures_and_still_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(base, "train_run", FakeEngine(fail={"max"}).run)
    assert main(GRID + ["--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 runs: 0 skipped (already done), 2 finished, 0 diverged, 2 failed" in out
    assert out.count("failed: resnet20-synthetic-max-s") == 2 and "RuntimeError: boom in max" in out

    monkeypatch.setattr(base, "train_run", FakeEngine().run)
    assert main(GRID + ["--runs-dir", str(tmp_path)]) == 0
    assert "4 runs: 2 skipped (already done), 2 finished, 0 diverged, 0 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--pools", "avg,nopool"], "unknown pool 'nopool'; valid pools: "),
        (["--models", "resnet21"], "argument --models: 'resnet21' is not a model; use one of "),
        (["--seeds", "4-2"], "bad seed range"),
        (["--suite", "benchmark"], "--suite sets the models and datasets"),
        (["--pool-arg", "gem:p"], "--pool-arg gem:p: expected KEY=VALUE"),
        (["--pools", ","], "--pools is empty"),
    ],
)
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys, extra, message):
    try:
        rc = main(GRID + extra + ["--runs-dir", str(tmp_path), "--dry-run"])
    except SystemExit as e:  # refused by the parser
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow  # trains real tiny runs: 3-8 s on 2 cores
def test_suite_without_models_and_datasets(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data dir is ./data
    assert (
        main(
            [
                "sweep",
                "--suite",
                "benchmark-cifar10",
                "--pools",
                "avg",
                "--seeds",
                "0-1",
                "--runs-dir",
                str(tmp_path),
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("resnet56-cifar10-avg") == 2 and out.count("mobilenetv2-fashion_mnist-avg") == 2
    assert not (tmp_path / "data").exists()  # a dry run never downloads to learn a run id
    assert "cifar100" not in out


def test_pool_args_scope():
    assert parse_pool_args(["gem:p=4", "eps=1e-6", "gem:learn=true", "x=a:b"]) == {
        "gem": {"p": 4, "learn": True},
        "*": {"eps": 1e-6, "x": "a:b"},
    }


@pytest.mark.slow  # False trains (6 s); True loads the data (11 s at load ~3)
@pytest.mark.parametrize("dry", [True, False])
def test_a_garbage_result_json_is_named_in_one_line(tmp_path, capsys, dry):
    main(GRID + ["--runs-dir", str(tmp_path), "--dry-run"])
    run_id = capsys.readouterr().out.splitlines()[0].split()[1]
    run = RunDir(tmp_path, run_id)
    run.path.mkdir()
    run.result.write_text("{garbage")
    assert main(GRID + ["--runs-dir", str(tmp_path)] + (["--dry-run"] if dry else [])) == 2
    err = capsys.readouterr().err.strip()
    assert str(run.result) in err and len(err.splitlines()) == 1
    assert run.result.read_text() == "{garbage"  # nothing overwritten
