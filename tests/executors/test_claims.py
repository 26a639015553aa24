"""Claims: an flock per run (or file) lets processes share one runs directory's work, and the local
executor claims every run before it trains it."""

from __future__ import annotations

import pytest

from poolbench.executors import claims
from poolbench.executors.claims import claimed
from poolbench.executors.local import LocalExecutor
from poolbench.runs import RunDir
from poolbench.sweep import expand_grid, run_sweep
from poolbench.train import Protocol
from poolbench.train.resolve import resolve
from tests.sweep.fakes import FakeEngine


def test_claims_let_processes_share_the_work(tmp_path):
    import json
    import os

    target = tmp_path / "run-a"
    with claimed(target) as mine:
        assert mine and json.loads((tmp_path / "run-a.lock").read_text())["pid"] == os.getpid()
        with claimed(target) as again:
            assert not again  # held by a live process (this one)
    assert not (tmp_path / "run-a.lock").exists()
    (tmp_path / "run-a.lock").write_text("999999999")  # a process that is gone
    with claimed(target) as mine:
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
    with claimed(tmp_path / "run-a") as mine:
        assert mine
    assert not lock.exists()


def _hold_in_another_process(target):
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from poolbench.executors.claims import claimed\n"
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
        with claimed(target) as mine:
            assert not mine
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup: its lock file stays, naming a dead pid
        holder.wait()
    assert (tmp_path / "run-a.lock").exists()
    with claimed(target) as mine:
        assert mine


def test_a_lock_note_that_cannot_be_written_still_claims(tmp_path, monkeypatch):
    import errno

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(claims, "_lock_note", full_disk)
    with claimed(tmp_path / "run-a") as mine:
        assert mine and (tmp_path / "run-a.lock").read_text() == ""  # the empty lock of a full disk
        with claimed(tmp_path / "run-a") as again:
            assert not again  # held all the same: the flock is the claim, not the text
    assert not (tmp_path / "run-a.lock").exists()


def grid():
    return expand_grid(["avg", "max"], ["resnet20"], ["synthetic"], [0], Protocol(epochs=1))


def test_the_local_executor_leaves_a_run_another_live_process_holds_and_says_so(tmp_path):
    configs = grid()
    held = RunDir(tmp_path, resolve(configs[1]).run_id).path
    holder = _hold_in_another_process(held)
    engine = FakeEngine()
    try:
        summary = run_sweep(configs, tmp_path, LocalExecutor(progress=False, worker=engine.worker))
    finally:
        holder.kill()  # no cleanup: its lock file stays, naming a dead pid
        holder.wait()
    assert engine.calls == [resolve(configs[0]).run_id] and not held.exists()  # nothing trained or written there
    assert (summary.finished, summary.held, summary.failed) == (1, 1, 0) and "1 held by other processes" in str(summary)
    (note,) = summary.problems()
    assert note["status"] == "held" and note["run_id"] == resolve(configs[1]).run_id and "again" in note["error"]
    again = run_sweep(configs, tmp_path, LocalExecutor(progress=False, worker=engine.worker))
    assert engine.calls[1:] == [resolve(configs[1]).run_id] and (again.skipped, again.finished, again.held) == (1, 1, 0)


def test_a_sweep_with_a_held_run_exits_1_never_a_silent_0(tmp_path, monkeypatch, capsys):
    import contextlib

    import poolbench.executors.base as base
    from poolbench.cli import main

    @contextlib.contextmanager
    def held_elsewhere(path):
        yield False

    monkeypatch.setattr(claims, "claimed", held_elsewhere)
    monkeypatch.setattr(base, "train_run", FakeEngine().run)
    argv = ["--models", "resnet20", "--datasets", "synthetic", "--epochs", "1", "--train-subset", "32"]
    argv += ["--test-subset", "32", "--no-progress", "--seeds", "0", "--runs-dir", str(tmp_path)]
    assert main(["sweep", "--pools", "avg", *argv]) == 1
    assert "1 held by other processes" in capsys.readouterr().out
    run = ["run", "--model", "resnet20", "--dataset", "synthetic", *argv[4:]]
    assert main(run) == 1
    assert "held: another live process is training it" in capsys.readouterr().out
