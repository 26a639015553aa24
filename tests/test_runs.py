"""Run-directory files someone else may have written: a hostile or damaged checkpoint is refused
with its name (never executed), a garbage result.json is named, stale temp files are cleaned."""

from __future__ import annotations

import os
import shlex

import pytest
import torch

from poolbench.cli import main
from poolbench.runs import RunDir, RunFileError, read_json
from poolbench.tensorfile import TensorFileError, UnsafeTensorFileError, load_tensor_file
from poolbench.train import Protocol, RunConfig
from poolbench.train.engine import train_run
from poolbench.train.packed import train_packed
from poolbench.train.resolve import resolve

TINY = Protocol(epochs=1, batch_size=32, train_subset=32, test_subset=32)
CFG = RunConfig(model="resnet20", dataset="synthetic", protocol=TINY)
# `poolbench run` of CFG (less --runs-dir)
RUN_ARGV = shlex.split(
    "run --seeds 0 --model resnet20 --dataset synthetic --epochs 1 --batch-size 32 --train-subset 32 "
    "--test-subset 32 --no-progress --device cpu"
)


class _Payload:
    """Unpickling this calls os.system: what a hostile checkpoint.pt carries."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile_checkpoint(run: RunDir, marker) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "optimizer": {}, "history": [], "wall_time_s": 0.0, "x": _Payload(marker)}, run.checkpoint)


def test_a_hostile_checkpoint_is_refused_and_never_executed(tmp_path):
    run, marker = RunDir(tmp_path, resolve(CFG).run_id), tmp_path / "PWNED"
    _hostile_checkpoint(run, marker)
    with pytest.raises(UnsafeTensorFileError, match="refused") as e:
        train_run(CFG, tmp_path, device="cpu", progress=False)
    assert str(run.checkpoint) in str(e.value)
    assert not marker.exists()


def test_a_hostile_checkpoint_in_a_pack_is_refused_and_never_executed(tmp_path):
    cfgs = [CFG, CFG.replace(seed=1)]
    marker = tmp_path / "PWNED"
    _hostile_checkpoint(RunDir(tmp_path, resolve(cfgs[1]).run_id), marker)
    with pytest.raises(UnsafeTensorFileError, match=resolve(cfgs[1]).run_id):
        train_packed(cfgs, tmp_path, device="cpu", progress=False)
    assert not marker.exists()


@pytest.mark.slow  # trains real tiny runs: 4-6 s on 2 cores
def test_run_refuses_a_hostile_checkpoint_in_one_line(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    _hostile_checkpoint(RunDir(tmp_path, resolve(CFG).run_id), marker)
    rc = main(RUN_ARGV + ["--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not marker.exists()
    assert len(err.splitlines()) == 1 and "checkpoint.pt: refused" in err


@pytest.mark.slow  # trains real tiny runs: 4-6 s on 2 cores
def test_genuine_plain_and_packed_checkpoints_load_weights_only(tmp_path):
    train_packed([CFG, CFG.replace(seed=1)], tmp_path / "packed", device="cpu", progress=False)
    train_run(CFG.replace(seed=2), tmp_path / "plain", device="cpu", progress=False)
    for run_dir in [*(tmp_path / "packed").iterdir(), *(tmp_path / "plain").iterdir()]:
        ckpt = RunDir(run_dir.parent, run_dir.name).load_checkpoint()
        assert ckpt["history"] and ckpt["model"]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a checkpoint at all" * 10])
def test_a_damaged_checkpoint_is_named_and_the_run_restarts_once_it_is_moved_away(tmp_path, content):
    run = RunDir(tmp_path, resolve(CFG).run_id)
    run.path.mkdir(parents=True)
    run.checkpoint.write_bytes(content)
    with pytest.raises(TensorFileError, match="cannot be read") as e:
        train_run(CFG, tmp_path, device="cpu", progress=False)
    assert str(run.checkpoint) in str(e.value) and "restarts from epoch 1" in str(e.value)
    assert not run.result.exists()  # nothing recorded: the run is not stuck as failed
    run.checkpoint.rename(run.path / "checkpoint.pt.bad")  # what the message says to do
    assert train_run(CFG, tmp_path, device="cpu", progress=False)["status"] == "finished"


def test_a_tensor_file_that_is_not_a_checkpoint_is_named(tmp_path):
    run = RunDir(tmp_path, resolve(CFG).run_id)
    run.path.mkdir(parents=True)
    torch.save({"weights": torch.zeros(2)}, run.checkpoint)
    with pytest.raises(TensorFileError, match="not a poolbench checkpoint"):
        run.load_checkpoint()


def test_a_hostile_lda_weights_file_is_refused_and_named(tmp_path):
    from poolbench.pools.lda import load_lda_weights

    path, marker = tmp_path / "lda.pt", tmp_path / "PWNED"
    torch.save({"p": torch.ones(4), "meta": _Payload(marker)}, path)
    with pytest.raises(UnsafeTensorFileError, match=str(path)):
        load_lda_weights(path)
    assert not marker.exists()


def test_load_tensor_file_reads_plain_tensors(tmp_path):
    torch.save({"a": torch.arange(3), "b": [1, "x", None]}, tmp_path / "ok.pt")
    got = load_tensor_file(tmp_path / "ok.pt")
    assert torch.equal(got["a"], torch.arange(3)) and got["b"] == [1, "x", None]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_a_garbage_json_file_is_named(tmp_path, content):
    path = tmp_path / "result.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(RunFileError, match=str(path)):
        read_json(path)


def test_a_garbage_result_json_stops_run_with_its_name(tmp_path, capsys):
    run = RunDir(tmp_path, resolve(CFG).run_id)
    run.path.mkdir(parents=True)
    run.result.write_text("{garbage")
    rc = main(RUN_ARGV + ["--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and str(run.result) in err and len(err.splitlines()) == 1


def test_stale_temp_files_of_a_killed_write_are_cleaned_when_the_run_starts(tmp_path):
    run = RunDir(tmp_path, resolve(CFG).run_id)
    run.path.mkdir(parents=True)
    stale = run.path / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    train_run(CFG, tmp_path, device="cpu", progress=False)
    assert not stale.exists() and run.checkpoint.exists()


def test_load_run_reads_config_result_and_metrics_of_a_trained_run(tmp_path):
    from poolbench.runs import load_run

    result = train_run(CFG, tmp_path, device="cpu", progress=False)
    run = load_run(tmp_path / resolve(CFG).run_id)
    assert run.config["run_id"] == resolve(CFG).run_id and run.config["model"] == "resnet20"
    assert run.result == result
    assert [m["epoch"] for m in run.metrics] == [1]


def test_load_run_names_what_is_missing_or_damaged(tmp_path):
    from poolbench.runs import load_run

    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFileError, match="config.json not found"):
        load_run(tmp_path / "empty")
    run = RunDir(tmp_path, "r")
    run.path.mkdir()
    run.config.write_text("{}")
    run.metrics.write_text('{"epoch": 1}\n{"epoch": 2, "test_a\n')
    with pytest.raises(RunFileError, match=r"metrics.jsonl line 2 is not JSON"):
        load_run(run.path)
    run.metrics.write_text('{"epoch": 1}\n[3]\n')
    with pytest.raises(RunFileError, match=r"metrics.jsonl line 2 is not an epoch record"):
        load_run(run.path)
    run.metrics.write_text('{"epoch": 1}\n')
    loaded = load_run(run.path)
    assert loaded.result is None and loaded.metrics == [{"epoch": 1}]  # unfinished: no result yet


def test_default_runs_dir_follows_the_environment(monkeypatch):
    from pathlib import Path

    from poolbench.runs import DEFAULT_RUNS_DIR, RUNS_ENV, default_runs_dir

    monkeypatch.delenv(RUNS_ENV, raising=False)
    assert default_runs_dir() == Path(DEFAULT_RUNS_DIR) == Path("runs")
    monkeypatch.setenv(RUNS_ENV, "/elsewhere/runs")
    assert default_runs_dir() == Path("/elsewhere/runs")
    monkeypatch.setenv(RUNS_ENV, "")  # set but empty: not the working directory
    assert default_runs_dir() == Path("runs")


def test_only_finished_and_diverged_runs_are_done(tmp_path):
    from poolbench.runs import DONE_STATUSES, atomic_write_json

    run = RunDir(tmp_path, "r")
    assert not run.is_done()  # no result.json: unfinished
    for status in ("finished", "diverged", "failed"):
        atomic_write_json(run.result, {"status": status, "run_id": "r", "best_test_acc": 50.0})
        assert run.is_done() == (status in DONE_STATUSES)
    assert DONE_STATUSES == ("finished", "diverged")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["config.json", "result.json", "metrics.jsonl"])
def test_a_run_file_that_is_a_fifo_or_a_link_to_dev_zero_is_a_run_file_error_at_once(tmp_path, name):
    from poolbench.runs import load_run

    run = RunDir(tmp_path, "r")
    run.path.mkdir()
    (run.path / "config.json").write_text('{"run_id": "r"}')
    target = run.path / name
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    with pytest.raises(RunFileError, match="FIFO"):
        load_run(run.path)
    target.unlink()
    target.symlink_to("/dev/zero")
    with pytest.raises(RunFileError, match="symbolic link"):
        load_run(run.path)


@pytest.mark.parametrize("run_id", ["../outside", "/abs/path", "a/b", "..", ".", ""])
def test_a_run_id_that_is_not_a_plain_file_name_is_refused(tmp_path, run_id):
    with pytest.raises(RunFileError, match="outside the runs directory"):
        RunDir(tmp_path / "runs", run_id)


def test_attempts_and_error_log_are_never_written_through_a_link(tmp_path):
    from poolbench.fileio import UnsafeFileError

    run = RunDir(tmp_path, "r")
    run.path.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for path, write in ((run.attempts, run.append_attempt), (run.error_log, run.write_error_log)):
        path.symlink_to(victim)
        with pytest.raises(UnsafeFileError, match="symbolic link"):
            write("{}")
    assert victim.read_text() == "precious"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("suffix", [".pt", ".npz", ".json"])
def test_an_lda_weights_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path, suffix):
    from poolbench.pools.lda import load_lda_weights

    path = tmp_path / f"lda_final{suffix}"
    os.mkfifo(path)
    with pytest.raises(ValueError, match="FIFO"):
        load_lda_weights(path)


GOOD_RESULT = {
    "status": "finished",
    "run_id": "r",
    "best_test_acc": 71.5,
    "final_test_acc": 70.0,
    "epochs_completed": 3,
}
INVALID_RESULTS = {
    "acc-150": ({"best_test_acc": 150}, "best_test_acc 150"),
    "acc-negative": ({"best_test_acc": -5}, "best_test_acc -5"),
    "acc-1e308": ({"final_test_acc": 1e308}, "final_test_acc"),
    "acc-nan": ({"best_test_acc": float("nan")}, "best_test_acc nan"),
    "acc-inf": ({"test_acc_at_best_val": float("inf")}, "test_acc_at_best_val inf"),
    "acc-string": ({"best_test_acc": "70.1"}, "best_test_acc '70.1'"),
    "acc-bool": ({"final_val_acc": True}, "final_val_acc True"),
    "finished-no-acc": ({"best_test_acc": None}, "no best_test_acc"),
    "status-unknown": ({"status": "done"}, "status 'done'"),
    "status-missing": ({"status": None}, "status None"),
    "epochs-negative": ({"epochs_completed": -1}, "epochs_completed -1"),
    "epochs-float": ({"best_epoch": 1.5}, "best_epoch 1.5"),
    "epochs-huge": ({"epochs_completed": 2**70}, "epochs_completed"),
    "another-run-id": ({"run_id": "other"}, "names run id 'other'"),
    "error-not-text": ({"error": ["x"]}, "error"),
    "provenance-not-object": ({"provenance": "x"}, "provenance"),
}


def test_a_result_poolbench_writes_is_valid(tmp_path):
    from poolbench.runs import atomic_write_json

    run = RunDir(tmp_path, "r")
    atomic_write_json(run.result, GOOD_RESULT)
    assert run.read_result() == GOOD_RESULT and run.is_done()
    result = train_run(CFG, tmp_path, device="cpu", progress=False)  # the recorder's own result.json
    assert RunDir(tmp_path, resolve(CFG).run_id).read_result() == result


@pytest.mark.parametrize("change, named", INVALID_RESULTS.values(), ids=INVALID_RESULTS.keys())
def test_an_invalid_result_is_named_and_never_done(tmp_path, change, named):
    import json

    run = RunDir(tmp_path, "r")
    run.path.mkdir()
    run.result.write_text(json.dumps(GOOD_RESULT | change))  # json writes NaN and Infinity as Python does
    with pytest.raises(RunFileError, match=str(run.result)) as err:
        run.read_result()
    assert named in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RunFileError):
        run.is_done()


def test_a_directory_whose_config_names_another_run_is_not_that_run(tmp_path):
    from poolbench.runs import atomic_write_json, load_run

    run = RunDir(tmp_path, "copy")
    atomic_write_json(run.config, {"run_id": "r", "model": "resnet20"})
    atomic_write_json(run.result, GOOD_RESULT | {"run_id": "copy"})
    with pytest.raises(RunFileError, match="config.json names run id 'r'"):
        run.read_result()
    run.result.unlink()  # an unfinished copy claims the id through its config alone
    with pytest.raises(RunFileError, match="names run id 'r', but its directory is copy"):
        load_run(run.path)


def test_json_nested_too_deep_is_named_not_a_recursion_error(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(RunFileError, match=str(path)):
        read_json(path)


def test_an_invalid_result_stops_run_and_sweep_and_is_kept(tmp_path, capsys):
    import json

    from poolbench.executors.local import LocalExecutor
    from poolbench.sweep import run_sweep
    from tests.sweep.fakes import FakeEngine

    run = RunDir(tmp_path, resolve(CFG).run_id)
    run.path.mkdir(parents=True)
    text = json.dumps(GOOD_RESULT | {"run_id": resolve(CFG).run_id, "best_test_acc": 150.0})
    run.result.write_text(text)
    with pytest.raises(RunFileError, match="best_test_acc 150"):
        train_run(CFG, tmp_path, device="cpu", progress=False)
    fake = FakeEngine()
    with pytest.raises(RunFileError, match="best_test_acc 150"):
        run_sweep([CFG], tmp_path, LocalExecutor(progress=False, worker=fake.worker))
    rc = main(RUN_ARGV + ["--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and str(run.result) in err and len(err.splitlines()) == 1
    assert fake.calls == [] and run.result.read_text() == text  # nothing trained, nothing overwritten
