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
    import json
    import os

    target = tmp_path / "run-a"
    with repro.claimed(target) as mine:
        assert mine and json.loads((tmp_path / "run-a.lock").read_text())["pid"] == os.getpid()
        with repro.claimed(target) as again:
            assert not again  # held by a live process (this one)
    assert not (tmp_path / "run-a.lock").exists()
    (tmp_path / "run-a.lock").write_text("999999999")  # a process that is gone
    with repro.claimed(target) as mine:
        assert mine


@pytest.mark.parametrize(
    "content",
    ["", "-1", "PPID", "1", "not a pid\x00", '{"pid": PPID, "host": "elsewhere", "claims": "run-b"}'],
    ids=["empty", "minus-one", "live-unrelated-pid", "init", "garbage", "another-claim"],
)
def test_a_lock_file_no_live_process_holds_is_taken_over(tmp_path, content):
    import os

    lock = tmp_path / "run-a.lock"
    lock.write_text(content.replace("PPID", str(os.getppid())))  # what a crash or a full disk leaves
    with repro.claimed(tmp_path / "run-a") as mine:
        assert mine
    assert not lock.exists()


def _hold_in_another_process(target):
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from poolbench.cli.reproduce.birodkar2019 import claimed\n"
        f"with claimed(Path({str(target)!r})) as mine:\n"
        "    print(mine, flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "True"
    return proc


def test_a_claim_is_held_while_its_process_lives_and_taken_over_when_it_is_killed(tmp_path):
    import signal

    target = tmp_path / "run-a"
    holder = _hold_in_another_process(target)
    try:
        with repro.claimed(target) as mine:
            assert not mine
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup: its lock file stays, naming a dead pid
        holder.wait()
    assert (tmp_path / "run-a.lock").exists()
    with repro.claimed(target) as mine:
        assert mine


def test_a_lock_note_that_cannot_be_written_still_claims(tmp_path, monkeypatch):
    import errno

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(repro, "_lock_note", full_disk)
    with repro.claimed(tmp_path / "run-a") as mine:
        assert mine and (tmp_path / "run-a.lock").read_text() == ""  # the empty lock of a full disk
        with repro.claimed(tmp_path / "run-a") as again:
            assert not again  # held all the same: the flock is the claim, not the text
    assert not (tmp_path / "run-a.lock").exists()


def test_runs_held_by_other_processes_make_the_command_say_so_not_exit_0(tiny_setting, tmp_path, capsys, monkeypatch):
    import contextlib

    @contextlib.contextmanager
    def held_elsewhere(path):
        yield False

    monkeypatch.setattr(repro, "claimed", held_elsewhere)
    argv = ["reproduce", "birodkar2019", "cnn-synthetic", "--seeds", "0", "--folds", "1", "--epochs", "1"]
    assert main(argv + ["--runs-dir", str(tmp_path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "held by other live processes" in err and "again" in err
