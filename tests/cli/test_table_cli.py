"""``poolbench table`` end to end on fake run directories."""

import csv
import io
import json

import pytest

from poolbench.cli import main
from tests.results.fakeruns import write_benchmark


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return write_benchmark(tmp_path_factory.mktemp("runs"))


def test_table_text(runs, capsys):
    assert main(["table", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "72.40 ± 0.10 *▲ (n=3)" in out and "69.90 (n=1; 1 diverged)†" in out
    assert "non-standard (epochs=6, train_subset=5000)" in out


def test_table_formats_and_metric(runs, capsys):
    assert main(["table", "--runs-dir", str(runs), "--format", "json", "--metric", "final"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gem = next(
        c
        for c in doc["cells"]
        if c["pool"] == "gem" and c["protocol_label"] == "standard" and c["column"] == "resnet56-cifar100"
    )
    assert doc["metric"] == "final" and gem["mean"] == pytest.approx(72.1)  # final = best - 0.3
    assert main(["table", "--runs-dir", str(runs), "--format", "csv"]) == 0
    assert csv.DictReader(io.StringIO(capsys.readouterr().out)).fieldnames[0] == "source"
    assert main(["table", "--runs-dir", str(runs), "--format", "md"]) == 0
    assert "| pool | resnet56-cifar100 |" in capsys.readouterr().out


def test_runs_dir_from_environment(runs, capsys, monkeypatch):
    monkeypatch.setenv("POOLBENCH_RUNS", str(runs))
    assert main(["table"]) == 0
    assert "Protocol: standard" in capsys.readouterr().out


def test_missing_runs_dir_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["table", "--runs-dir", str(tmp_path / "none")]) == 2
    assert "not found" in capsys.readouterr().err
