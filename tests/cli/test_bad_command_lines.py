"""Every bad command line is one line naming the flag and the value (and the fix), exit 2, and
no run directory: the 30 of 56 attack lines that used to end in a traceback, a silent wrong run or a
run directory that counted as done forever."""

from __future__ import annotations

import time

import pytest
import torch

from poolbench.cli import main

RUN = [
    "run",
    "--seeds",
    "0",
    "--model",
    "resnet20",
    "--dataset",
    "synthetic",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--train-subset",
    "32",
    "--test-subset",
    "32",
    "--no-progress",
    "--device",
    "cpu",
]
SWEEP = [
    "sweep",
    "--pools",
    "avg,gem",
    "--models",
    "resnet20",
    "--datasets",
    "synthetic",
    "--seeds",
    "0",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--train-subset",
    "32",
    "--test-subset",
    "32",
    "--no-progress",
]

# (extra arguments, what the one line must name: the flag and the value)
RUN_CASES = [
    (["--epochs", "0"], ["--epochs", "0"]),
    (["--epochs", "-3"], ["--epochs", "-3"]),
    (["--batch-size", "0"], ["--batch-size", "0"]),
    (["--batch-size", "-4"], ["--batch-size", "-4"]),
    (["--lr", "nan"], ["--lr", "nan"]),
    (["--lr", "inf"], ["--lr", "inf"]),
    (["--lr", "-0.1"], ["--lr", "-0.1"]),
    (["--seeds", "0-100000000"], ["--seeds", "0-100000000", "more than"]),
    (["--seeds", "4-2"], ["--seeds", "4-2"]),
    (["--train-subset", "10000000"], ["--train-subset", "10000000", "5000"]),
    (["--train-subset", "-5"], ["--train-subset", "-5"]),
    (["--train-subset", "0"], ["--train-subset", "0"]),
    (["--test-subset", "0"], ["--test-subset", "0"]),
    (["--test-subset", "5000"], ["--test-subset", "5000", "1000"]),
    (["--val-split", "5000"], ["--val-split", "5000"]),
    (["--val-split", "-1"], ["--val-split", "-1"]),
    (["--pool", "gem", "--pool-arg", "nosuch=1"], ["--pool-arg", "nosuch=1", "p, eps"]),
    (["--pool", "gem", "--pool-arg", "=3"], ["--pool-arg", "=3", "KEY=VALUE"]),
    (["--pool", "gem", "--pool-arg", "p=[1,2]"], ["--pool-arg", "p=[1, 2]"]),
    (["--pool", "gem", "--pool-arg", "p=[1,"], ["--pool-arg", "p=[1,", "JSON"]),
    (["--pool", "gem", "--pool-arg", 'p={"a":'], ["--pool-arg", "JSON"]),
    (["--pool", "nosuch"], ["--pool", "nosuch", "gem"]),
    (["--model", "nosuch"], ["--model", "nosuch", "resnet20"]),
    (["--dataset", "nosuch"], ["--dataset", "nosuch", "synthetic"]),
    (["--model-arg", "nosuch=1"], ["--model-arg", "nosuch=1"]),
    (["--model", "vgg16_bn", "--lda-layer", "2", "--lda-weights", "{weights}"], ["--lda-layer", "2", "vgg16_bn"]),
    (["--lda-layer", "2", "--lda-weights", "{tmp}/missing.pt"], ["--lda-weights", "missing.pt", "fit-lda"]),
    (["--lda-layer", "2"], ["--lda-layer", "2", "lda_weights"]),
    (["--sac-stages", "a"], ["--sac-stages", "a"]),
    (["--sac-stages", "0"], ["--sac-stages", "0"]),
    (["--sac", "--sac-stages", "9"], ["--sac-stages", "9"]),
    (["--drop-rate", "1.5"], ["--drop-rate", "1.5"]),
    (["--sac", "--sac-weights", "0.1,nan,0.7"], ["--sac-weights", "0.1,nan,0.7"]),
    (["--pool-reg", "1e-4"], ["--pool-reg", "0.0001", "flex"]),  # avg learns no weights to penalise
    (["--device", "bogus"], ["--device", "bogus"]),
    (["--device", "cuda:99"], ["--device", "cuda:99"]),
    (["--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    (["--pack", "0"], ["--pack", "0"]),
    (["--pack", "-2"], ["--pack", "-2"]),
    (["--pool-file", "{tmp}/nope.py:CustomPool"], ["--pool-file", "nope.py"]),
]
SWEEP_CASES = [
    (["--datasets", "nosuch"], ["--datasets", "nosuch", "synthetic"]),
    (["--pool-arg", "gem:nosuch=1"], ["--pool-arg", "nosuch=1", "gem"]),
    (["--pool-arg", "p=3"], ["--pool-arg", "p=3", "avg"]),  # 'p=3' reaches every pool; avg has no p
    (["--pool-arg", "max:p=3"], ["--pool-arg", "max"]),
    (["--val-split", "5000"], ["--val-split", "5000"]),
    (["--val-split", "4990"], ["--train-subset", "32", "10"]),
    (["--train-subset", "10000000"], ["--train-subset", "10000000"]),
    (["--epochs", "0"], ["--epochs", "0"]),
    (["--lr", "nan"], ["--lr", "nan"]),
    (["--seeds", "0-100000000"], ["0-100000000", "more than"]),
    (["--pack", "0"], ["--pack", "0"]),
    (["--models", "vgg16_bn", "--lda-layer", "1", "--lda-weights", "{weights}"], ["--lda-layer", "1"]),
    (["--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
]


def _rc(argv):
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own errors (types, choices)
        return e.code


def _fill(args, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    weights = tmp_path / "w.pt"
    torch.save({"p": torch.ones(16, 16), "meta": {}}, weights)
    subs = {"{tmp}": str(tmp_path), "{file}": str(tmp_path / "a-file"), "{weights}": str(weights)}
    out = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def _check(base, extra, names, tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = base + ["--runs-dir", str(runs)] + _fill(extra, tmp_path)
    t0 = time.perf_counter()
    rc = _rc(argv)
    out = capsys.readouterr()
    err = out.err.strip()
    assert rc == 2, (argv, out.out[-500:], err[-2000:])
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was made"
    assert time.perf_counter() - t0 < 60


# Cases refused only after the data is loaded or the model built: 6-12 s each on 2 cores, so slow.
SLOW_CASES = {
    "--pool gem --pool-arg p=[1,2]",
    "--sac --sac-stages 9",
    "--train-subset 10000000",
    "--test-subset 5000",
    "--val-split 5000",
    "--val-split 4990",
    "--pool-reg 1e-4",
}


def _cases(cases):
    return [
        pytest.param(*c, id=" ".join(c[0]), marks=[pytest.mark.slow] if " ".join(c[0]) in SLOW_CASES else [])
        for c in cases
    ]


@pytest.mark.parametrize("extra, names", _cases(RUN_CASES))
def test_run_refuses_a_bad_command_line_in_one_line(tmp_path, capsys, extra, names):
    _check(RUN, extra, names, tmp_path, capsys)


@pytest.mark.parametrize("extra, names", _cases(SWEEP_CASES))
def test_sweep_refuses_a_bad_grid_up_front(tmp_path, capsys, extra, names):
    _check(SWEEP, extra, names, tmp_path, capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("base", [RUN, SWEEP[:1] + ["--device", "cuda"] + SWEEP[1:]][:1])
def test_cuda_without_cuda_is_one_line(tmp_path, capsys, base):
    _check(RUN, ["--device", "cuda"], ["--device", "cuda", "CUDA is not available"], tmp_path, capsys)


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_a_good_command_line_still_runs(tmp_path, capsys):
    assert _rc(RUN + ["--runs-dir", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*/result.json"))) == 1


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    import errno

    from poolbench import runs

    real = runs.atomic_write_bytes
    calls = {"n": 0}

    def full(path, data):
        if path.name == "checkpoint.pt":
            calls["n"] += 1
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(runs, "atomic_write_bytes", full)
    rc = _rc(RUN + ["--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and calls["n"] == 1
    assert len(err.splitlines()) == 1 and "no space left on device" in err and "checkpoint.pt" in err
    monkeypatch.setattr(runs, "atomic_write_bytes", real)
    assert _rc(RUN + ["--runs-dir", str(tmp_path)]) == 0  # space again: the same command finishes it
