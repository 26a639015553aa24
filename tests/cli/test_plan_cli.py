"""``poolbench plan`` end to end: the published figures, your runs, and bad flags in one line."""

import pytest

from poolbench.cli import main
from tests.results.fakeruns import write_run


def test_plan_from_the_published_resnet56_baselines(capsys):
    assert main(["plan", "--column", "resnet56-cifar100", "--pools", "avg_max,gem", "--seeds", "3,10,20"]) == 0
    out = capsys.readouterr().out
    assert "published benchmark" in out and "normal approximation" in out and "alpha 0.05, power 0.8" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()[:2] in ("3 ", "10", "20")}
    assert [rows[n][2] for n in ("3", "10", "20")] == ["0.78", "0.43", "0.30"]  # paired normal
    assert [rows[n][0] for n in ("3", "10", "20")] == ["0.77", "0.42", "0.30"]  # unpaired normal


def test_plan_from_your_runs_and_seeds_needed(tmp_path, capsys):
    for seed, (a, g) in enumerate([(70.0, 70.9), (70.4, 71.2), (70.2, 71.1)]):
        write_run(tmp_path, pool="avg", seed=seed, best=a)
        write_run(tmp_path, pool="gem", seed=seed, best=g)
    argv = ["plan", "--column", "resnet56-cifar100", "--spread", "runs", "--runs-dir", str(tmp_path)]
    assert main([*argv, "--difference", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "your runs (protocol: standard" in out and "seeds needed to detect 0.5 points" in out
    assert main([*argv[:4], "both", *argv[5:]]) == 0
    assert "your runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--seeds", "1,3"], "2 or more"),
        (["--alpha", "5"], "between 0 and 1"),
        (["--difference", "-1"], "positive"),
        (["--published", "arxiv"], "invalid choice"),
    ],
)
def test_bad_flags_are_one_line(capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--column", "resnet56-cifar100", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and len(err.strip().splitlines()) == 1


def test_an_unknown_column_is_one_line(capsys):
    assert main(["plan", "--column", "resnet20-cifar10"]) == 2
    err = capsys.readouterr().err
    assert "no column 'resnet20-cifar10'" in err and "resnet56-cifar100" in err
