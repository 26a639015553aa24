"""Every bad command line is one line naming the flag and the value (and the fix), exit 2, and
no run directory: never a traceback, a silently different run, or a run directory that counts as done
forever."""

from __future__ import annotations

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
    (["--preset", "nope"], ["--preset nope", "birodkar2019-cnn-cifar", "birodkar2019-cnn-svhn"]),
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
    (["--surgery", "nosuch:layer=1"], ["--surgery", "nosuch", "lda_downsample", "sgd_downsample"]),
    (["--surgery", "sgd_downsample:nosuch=1"], ["--surgery", "nosuch", "layer"]),
    (["--surgery", "sgd_downsample:layer=9"], ["--surgery", "layer=9", "1..2"]),
    (["--surgery", "sgd_downsample"], ["--surgery", "NAME:KEY=VALUE"]),
    (["--log-csv", "{file}"], ["--log-csv", "a-file", "folder"]),
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
    (["--surgery", "nosuch:layer=1"], ["--surgery", "nosuch", "lda_downsample"]),
    (["--log-csv", "{file}"], ["--log-csv", "a-file", "folder"]),
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
    rc = _rc(argv)
    out = capsys.readouterr()
    err = out.err.strip()
    assert rc == 2, (argv, out.out[-500:], err[-2000:])
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)
    assert not runs.exists() or not any(runs.iterdir()), "a run directory was made"


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


# A hang (a refusal that waits on data or a lock) fails its case instead of stalling the lane;
# how long a refusal takes is not asserted (performance is measured, never asserted).
PER_CASE_TIMEOUT_S = 120


def _cases(cases):
    return [
        pytest.param(
            *c,
            id=" ".join(c[0]),
            marks=[pytest.mark.timeout(PER_CASE_TIMEOUT_S)]
            + ([pytest.mark.slow] if " ".join(c[0]) in SLOW_CASES else []),
        )
        for c in cases
    ]


@pytest.mark.parametrize("extra, names", _cases(RUN_CASES))
def test_run_refuses_a_bad_command_line_in_one_line(tmp_path, capsys, extra, names):
    _check(RUN, extra, names, tmp_path, capsys)


@pytest.mark.parametrize("extra, names", _cases(SWEEP_CASES))
def test_sweep_refuses_a_bad_grid_up_front(tmp_path, capsys, extra, names):
    _check(SWEEP, extra, names, tmp_path, capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.timeout(PER_CASE_TIMEOUT_S)
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


# ----------------------------------------------------------------------------- every command's flags
# Each command's flags with a bad type, a value out of range, NaN/inf, an empty value, a path that
# does not exist (or is a file where a folder is due) and an unknown name: one line naming the flag
# and the value, exit 2, no traceback, nothing written, within the time limit (a hang fails).
POOL = "examples/custom_pool.py"
HARNESS = ["harness", POOL, "--arch", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--device", "cpu"]
HARNESS += ["--train-subset", "32", "--test-subset", "32", "--runs-dir", "{tmp}/runs"]
BENCH = ["bench", "--models", "resnet20", "--no-write", "--device", "cpu"]
FLEX = ["reproduce", "flexpool2023", "--synthetic", "--dry-run", "--runs-dir", "{tmp}/runs"]
BIRODKAR = ["reproduce", "birodkar2019", "cnn-fmnist-5pct", "--report-only", "--runs-dir", "{tmp}/runs"]
ROBUST = ["robustness", "some-run", "--runs-dir", "{tmp}/runs"]
SHOW = ["show", "some-run", "--runs-dir", "{tmp}/runs"]
FIT = ["fit-lda", "some-run", "--alpha", "5", "--runs-dir", "{tmp}/runs"]
DEMO = ["demo", "--out", "{tmp}/demo"]
CHECK = ["check", "gem", "--no-compile", "--no-onnx"]

FLAG_CASES = [
    # harness: the benchmark's command line
    (HARNESS, ["--dataset", "imagenet"], ["--dataset", "imagenet", "cifar10"]),
    (HARNESS, ["--arch", "nosuch"], ["--arch", "nosuch", "resnet20"]),
    (HARNESS, ["--device", "bogus"], ["--device", "bogus"]),
    (HARNESS, ["--seed", "-1"], ["--seed", "-1"]),
    (HARNESS, ["--seed", "x"], ["--seed", "'x'"]),
    (HARNESS, ["--epochs", "0"], ["--epochs", "0"]),
    (HARNESS, ["--train-subset", "0"], ["--train-subset", "0"]),
    (HARNESS, ["--test-subset", "-1"], ["--test-subset", "-1"]),
    (HARNESS, ["--data-path", "{tmp}/missing"], ["--data-path", "missing", "does not exist"]),
    (HARNESS, ["--data-dir", "{file}"], ["--data-dir", "a-file"]),
    (HARNESS, ["--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    (HARNESS, ["--threads", "0"], ["--threads", "0"]),
    (["harness", "{tmp}/nope.py"], HARNESS[2:], ["nope.py"]),
    # bench: no negative or silently replaced values
    (BENCH, ["--steps", "-1"], ["--steps", "-1"]),
    (BENCH, ["--steps", "0"], ["--steps", "0"]),
    (BENCH, ["--warmup", "-1"], ["--warmup", "-1"]),
    (BENCH, ["--rounds", "0"], ["--rounds", "0"]),
    (BENCH, ["--eval-images", "0"], ["--eval-images", "0"]),
    (BENCH, ["--batch-size", "0"], ["--batch-size", "0"]),
    (BENCH, ["--threads", "0"], ["--threads", "0"]),
    (BENCH, ["--threads", "two"], ["--threads", "'two'"]),
    (BENCH, ["--packs", "0"], ["--packs", "'0'"]),
    (BENCH, ["--packs", "a"], ["--packs", "'a'"]),
    (BENCH, ["--loader-workers", "-1"], ["--loader-workers", "-1"]),
    (BENCH, ["--budget-s", "nan"], ["--budget-s", "nan"]),
    (BENCH, ["--budget-s", "-5"], ["--budget-s", "-5"]),
    (BENCH, ["--device", "bogus"], ["--device", "bogus"]),
    (BENCH, ["--out", "{file}"], ["--out", "a-file"]),
    (BENCH, ["--models", ""], ["--models"]),
    (BENCH, ["--models", "nosuch"], ["--models", "nosuch", "resnet20"]),
    (BENCH, ["--modes", "nosuch"], ["nosuch", "eager"]),
    (BENCH, ["--baselines", "nosuch"], ["nosuch", "plain"]),
    # --ray-address and --executor
    (SWEEP, ["--ray-address", "garbage"], ["--ray-address", "garbage"]),
    (SWEEP, ["--ray-address", "host:0"], ["--ray-address", "host:0"]),
    (SWEEP, ["--ray-address", ""], ["--ray-address"]),
    (SWEEP, ["--ray-address", "127.0.0.1:6379"], ["--ray-address", "--executor ray"]),
    (SWEEP, ["--executor", "slurm"], ["--executor", "slurm"]),
    (SWEEP, ["--threads", "0"], ["--threads", "0"]),
    (SWEEP, ["--data-path", "{tmp}/missing"], ["--data-path", "missing"]),
    (FLEX, ["--ray-address", "garbage"], ["--ray-address", "garbage"]),
    (FLEX, ["--ray-address", "127.0.0.1:6379"], ["--ray-address", "--executor ray"]),
    # reproduce flexpool2023
    (FLEX, ["--reg", "nan"], ["--reg", "nan"]),
    (FLEX, ["--reg", "inf"], ["--reg", "inf"]),
    (FLEX, ["--reg", "-1"], ["--reg", "-1"]),
    (FLEX, ["--dropout", "2"], ["--dropout", "2"]),
    (FLEX, ["--dropout", "1"], ["--dropout", "1"]),
    (FLEX, ["--dropout", "-0.1"], ["--dropout", "-0.1"]),
    (FLEX, ["--dropout", "nan"], ["--dropout", "nan"]),
    (FLEX, ["--seeds", "x"], ["--seeds", "'x'"]),
    (FLEX, ["--epochs", "0"], ["--epochs", "0"]),
    (FLEX, ["--lr", "nan"], ["--lr", "nan"]),
    (FLEX, ["--cifar10", "{tmp}/missing"], ["--cifar10", "missing"]),
    (FLEX, ["--fashion-mnist", "{tmp}/missing"], ["--fashion-mnist", "missing"]),
    (FLEX, ["--cifar100", "{tmp}/missing"], ["--cifar100", "missing"]),
    (FLEX, ["--sac", "sometimes"], ["--sac", "sometimes"]),
    (FLEX, ["--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    # reproduce birodkar2019
    (BIRODKAR, ["--folds", "0"], ["--folds", "0"]),
    (BIRODKAR, ["--folds", "x"], ["--folds", "'x'"]),
    (BIRODKAR, ["--layers", "4"], ["--layers", "'4'"]),
    (BIRODKAR, ["--layers", "a"], ["--layers", "'a'"]),
    (BIRODKAR, ["--alphas", "nan"], ["--alphas", "'nan'"]),
    (BIRODKAR, ["--alphas", "-5"], ["--alphas", "'-5'"]),
    (BIRODKAR, ["--norms", "l3"], ["--norms", "'l3'"]),
    (BIRODKAR, ["--epochs", "0"], ["--epochs", "0"]),
    (BIRODKAR, ["--test-subset", "0"], ["--test-subset", "0"]),
    (BIRODKAR, ["--seeds", "5-1"], ["--seeds", "5-1"]),
    (BIRODKAR, ["--model-arg", "=3"], ["--model-arg", "=3"]),
    (BIRODKAR, ["--figures", "{file}"], ["--figures", "a-file"]),
    (BIRODKAR, ["--data-path", "{tmp}/missing"], ["--data-path", "missing"]),
    (BIRODKAR, ["--device", "bogus"], ["--device", "bogus"]),
    (BIRODKAR[:2], ["nosuch-setting", *BIRODKAR[3:]], ["nosuch-setting", "cnn-svhn"]),
    # robustness
    (ROBUST, ["--n", "0"], ["--n", "0"]),
    (ROBUST, ["--n", "x"], ["--n", "'x'"]),
    (ROBUST, ["--severities", "0-9"], ["--severities", "0-9"]),
    (ROBUST, ["--severities", "6"], ["--severities", "'6'"]),
    (ROBUST, ["--seed", "-1"], ["--seed", "-1"]),
    (ROBUST, ["--cifar10c", "{tmp}/missing"], ["--cifar10c", "missing"]),
    (ROBUST, ["--cifar10p", "{file}"], ["--cifar10p", "a-file"]),
    (ROBUST, ["--out", "{tmp}"], ["--out", "a folder"]),
    (ROBUST, ["--cache", "{file}"], ["--cache", "a-file"]),
    (ROBUST, ["--device", "bogus"], ["--device", "bogus"]),
    (ROBUST, ["--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    (ROBUST, [], ["some-run", "no run directory"]),
    # show
    (SHOW, ["--n", "0"], ["--n", "0"]),
    (SHOW, ["--n", "many"], ["--n", "'many'"]),
    (SHOW, ["--out", "{file}"], ["--out", "a-file"]),
    (SHOW, ["--device", "bogus"], ["--device", "bogus"]),
    (SHOW, [], ["some-run", "no run directory"]),
    # fit-lda
    (FIT, ["--alpha", "nan"], ["--alpha", "nan"]),
    (FIT, ["--alpha", "-1"], ["--alpha", "-1"]),
    (FIT, ["--layer", "4"], ["--layer", "'4'"]),
    (FIT, ["--norm", "l3"], ["--norm", "'l3'"]),
    (FIT, ["--n-out", "0"], ["--n-out", "0"]),
    (FIT, ["--max-per-class", "0"], ["--max-per-class", "0"]),
    (FIT, ["--ridge", "-1"], ["--ridge", "-1"]),
    (FIT, ["--ridge", "inf"], ["--ridge", "inf"]),
    (FIT, ["--batch", "0"], ["--batch", "0"]),
    (FIT, ["--out", "{tmp}"], ["--out", "a folder"]),
    (FIT, ["--centre", "middle"], ["--centre", "'middle'"]),
    (FIT, ["--device", "bogus"], ["--device", "bogus"]),
    (FIT, [], ["some-run", "no run directory"]),
    (FIT[:2], ["--runs-dir", "{tmp}/runs"], ["--alpha"]),
    # table, compare, report
    ([], ["table", "--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    ([], ["table", "--runs-dir", "{tmp}/missing"], ["missing"]),
    ([], ["table", "--format", "xml"], ["--format", "'xml'"]),
    ([], ["table", "--metric", "worst"], ["--metric", "'worst'"]),
    ([], ["compare", "gem", "--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    ([], ["compare", "gem", "--metric", "worst"], ["--metric", "'worst'"]),
    ([], ["compare", "gem", "--format", "xml"], ["--format", "'xml'"]),
    ([], ["compare", "gem", "avg", "--published", "gem", "--runs-dir", "{tmp}"], ["--published"]),
    ([], ["report", "--runs-dir", "{file}"], ["--runs-dir", "a-file"]),
    ([], ["report", "--out", "{file}"], ["--out", "a-file"]),
    # check
    (CHECK, ["--pool-arg", "nosuch=1"], ["--pool-arg", "nosuch=1", "p, eps"]),
    (CHECK, ["--pool-arg", "p=abc"], ["--pool-arg", "p=abc"]),
    (CHECK, ["--pool-arg", "=3"], ["--pool-arg", "=3"]),
    (CHECK, ["--channels", "0"], ["--channels", "'0'"]),
    (CHECK, ["--channels", "a,b"], ["--channels", "'a,b'"]),
    ([], ["check", "nosuch"], ["nosuch", "gem"]),
    ([], ["check", "--all", "--pool-arg", "p=3"], ["--pool-arg", "--all"]),
    ([], ["check"], ["--all"]),
    # demo
    (DEMO, ["--epochs", "0"], ["--epochs", "0"]),
    (DEMO, ["--train-subset", "0"], ["--train-subset", "0"]),
    (DEMO, ["--test-subset", "x"], ["--test-subset", "'x'"]),
    (DEMO, ["--seeds", "4-2"], ["--seeds", "4-2"]),
    (DEMO, ["--threads", "0"], ["--threads", "0"]),
    (DEMO, ["--device", "bogus"], ["--device", "bogus"]),
    (DEMO, ["--out", "{file}"], ["--out", "a-file"]),
    (DEMO, ["--model", "nosuch"], ["--model", "nosuch"]),
    (DEMO, ["--dataset", "nosuch"], ["--dataset", "nosuch"]),
    (DEMO, ["--pools", "nosuch"], ["nosuch"]),
    # run: the flags added beside the table above
    (RUN, ["--threads", "0"], ["--threads", "0"]),
    (RUN, ["--data-path", "{tmp}/missing"], ["--data-path", "missing"]),
    (RUN, ["--data-dir", "{file}"], ["--data-dir", "a-file"]),
]


def _flag_cases():
    out = []
    for base, extra, names, *slow in FLAG_CASES:
        command = " ".join(base[:2] if base[:1] == ["reproduce"] else base[:1])
        case_id = " ".join([command, *extra]) if command else " ".join(extra)
        out.append(pytest.param(base + extra, names, id=case_id, marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv, names", _flag_cases())
def test_every_bad_flag_is_one_line_and_exit_2(tmp_path, capsys, argv, names):
    _fill(["{tmp}"], tmp_path)  # the fixture files: a-file, w.pt
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc = _rc(_fill(argv, tmp_path))
    out = capsys.readouterr()
    err = out.err.strip()
    assert rc == 2, (argv, out.out[-500:], err[-2000:])
    assert len(err.splitlines()) == 1 and err, err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "something was written"
