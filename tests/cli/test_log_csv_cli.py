"""``--log-csv DIR`` on ``run`` and ``sweep``: each run's epochs in DIR/<run id>/metrics.csv, the
values of its metrics.jsonl; a file or a link in place of DIR is one line, exit 2, nothing trained."""

from __future__ import annotations

import csv

import pytest

from poolbench.cli import main
from poolbench.runs import RunDir

TINY = ["--seeds", "0", "--epochs", "2", "--batch-size", "16", "--train-subset", "32", "--test-subset", "32"]
TINY += ["--no-progress", "--threads", "1", "--no-check"]


def _csv(path) -> list[dict[str, float | None]]:
    with open(path, newline="") as f:
        return [{k: float(v) if v != "" else None for k, v in row.items()} for row in csv.DictReader(f)]


def _metrics_of(runs, logs) -> dict[str, list]:
    """{run id: its metrics.jsonl} for every run the CSV logger wrote, after checking they match."""
    found = {}
    for path in sorted(logs.glob("*/metrics.csv")):
        metrics = RunDir(runs, path.parent.name).read_metrics()
        assert _csv(path) == metrics and [m["epoch"] for m in metrics] == [1, 2]
        found[path.parent.name] = metrics
    return found


def test_run_with_log_csv_writes_each_runs_epochs(tmp_path, capsys):
    runs, logs = tmp_path / "runs", tmp_path / "logs"
    argv = ["run", "--model", "cnn4", "--dataset", "synthetic", "--device", "cpu", *TINY, "--runs-dir", str(runs)]
    assert main([*argv, "--log-csv", str(logs)]) == 0
    assert list(_metrics_of(runs, logs)) == [p.name for p in runs.iterdir() if p.is_dir()]


@pytest.mark.slow  # trains two runs: 4-8 s on 2 cores
def test_sweep_with_log_csv_writes_one_file_per_run(tmp_path, capsys):
    runs, logs = tmp_path / "runs", tmp_path / "logs"
    argv = ["sweep", "--pools", "avg,max", "--models", "cnn4", "--datasets", "synthetic", *TINY]
    assert main([*argv, "--runs-dir", str(runs), "--log-csv", str(logs)]) == 0
    assert len(_metrics_of(runs, logs)) == 2


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("what", ["file", "link"])
def test_a_file_or_a_link_for_log_csv_is_one_line_and_exit_2(tmp_path, capsys, command, what):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    bad = target
    if what == "link":
        (tmp_path / "folder").mkdir()
        bad = tmp_path / "a-link"
        bad.symlink_to(tmp_path / "folder")
    grid = ["--model", "cnn4", "--dataset", "synthetic"] if command == "run" else ["--models", "cnn4"]
    argv = [command, *grid, *TINY, "--runs-dir", str(tmp_path / "runs"), "--log-csv", str(bad)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--log-csv" in err[-1] and str(bad) in err[-1] and f"a {what}" in err[-1]
    assert not (tmp_path / "runs").exists() and target.read_text() == "not a folder"
