"""``poolbench reproduce birodkar2019`` end to end on tiny synthetic data: baseline, CV, fit, retrain, table."""

from __future__ import annotations

import pytest

from poolbench.cli import main
from poolbench.cli.reproduce import birodkar2019 as repro


@pytest.fixture
def tiny_setting(monkeypatch):
    setting = repro.Setting("cnn4", "synthetic", "birodkar2019-cnn-svhn", 0.02, 0.5, model_args=(("width", 4),))
    monkeypatch.setitem(repro.SETTINGS, "cnn-synthetic", setting)
    return setting


@pytest.mark.slow
def test_workflow_runs_resumes_and_reports(tiny_setting, tmp_path, capsys):
    argv = [
        "reproduce",
        "birodkar2019",
        "cnn-synthetic",
        "--seeds",
        "0,1",
        "--folds",
        "2",
        "--layers",
        "2,3",
        "--alphas",
        "5",
        "--norms",
        "l1",
        "--epochs",
        "1",
        "--test-subset",
        "50",
        "--runs-dir",
        str(tmp_path),
        "--device",
        "cpu",
        "--sgd-pooling",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| cnn-synthetic"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3].endswith("(n=2)") and cells[7].endswith("(n=2)") and cells[10].endswith("(n=2)")
    assert cells[5].split(" / ")[0] in ("2nd", "3rd") and cells[5].endswith("/ 5 / l1")
    assert "preset=birodkar2019-cnn-svhn" in out and "holdout" not in row and "2 folds" in out
    runs = sorted(p.name for p in tmp_path.iterdir() if (p / "result.json").exists())
    assert len(runs) == 12, runs
    # 2 baselines + 2 fold baselines + 2 folds x 2 layers + 2 replaced + 2 SGD-learned
    assert len(runs) == 12
    weights = sorted(p.name for p in (tmp_path / "birodkar2019-weights" / "cnn-synthetic").iterdir())
    assert len(weights) == 5 and any(w.startswith("full-") for w in weights)
    assert main(argv + ["--report-only", "--figures", str(tmp_path / "fig")]) == 0  # resumable: nothing new
    out = capsys.readouterr().out
    assert row in out and "per-class-pooled.png" in out
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "cnn-synthetic-per-class-pooled.png",
        "cnn-synthetic-pooling-map-copy0.png",
        "cnn-synthetic-pooling-map-copy1.png",
    ]
    assert len([p for p in tmp_path.iterdir() if (p / "result.json").exists()]) == 12


def test_report_only_on_nothing_and_bad_names(tiny_setting, tmp_path, capsys):
    assert (
        main(
            [
                "reproduce",
                "birodkar2019",
                "cnn-synthetic",
                "--report-only",
                "--runs-dir",
                str(tmp_path),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| cnn-synthetic | cnn4 width=4 | synthetic (2%) | - |" in out and "not in paper" in out
    assert not any(tmp_path.iterdir())
    assert main(["reproduce", "birodkar2019", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "unknown setting" in capsys.readouterr().err


def test_choice_needs_every_fold_of_every_grid_point():
    grid = [(2, 5.0, "l1"), (3, 5.0, "l1"), (3, 25.0, "l2")]
    cv = {
        "baseline": {0: 10.0, 1: 12.0},
        (2, 5.0, "l1"): {0: 8.0, 1: 9.0},
        (3, 5.0, "l1"): {0: 5.0},
        (3, 25.0, "l2"): {0: 9.0, 1: 8.5},
    }
    assert repro.choose(cv, 2, grid) is None  # (3, 5, l1) lacks fold 1: no choice yet
    cv[(3, 5.0, "l1")][1] = 6.0
    assert repro.choose(cv, 2, grid) == (3, 5.0, "l1")
    cv[(2, 5.0, "l1")][1] = None  # a diverged or unfinished run
    assert repro.choose(cv, 2, grid) is None
    assert repro.choose({"baseline": {0: 1.0}}, 2, grid) is None


def test_claims_let_processes_share_the_work(tmp_path):
    import os

    target = tmp_path / "run-a"
    with repro.claimed(target) as mine:
        assert mine and (tmp_path / "run-a.lock").read_text() == str(os.getpid())
        with repro.claimed(target) as again:
            assert not again  # held by a live process (this one)
    assert not (tmp_path / "run-a.lock").exists()
    (tmp_path / "run-a.lock").write_text("999999999")  # a process that is gone
    with repro.claimed(target) as mine:
        assert mine
