"""``poolbench compare A B`` end to end on fake run directories."""

import json

import numpy as np
import pytest

from poolbench.cli import main
from tests.results.fakeruns import STANDARD_BEST, write_benchmark


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return write_benchmark(tmp_path_factory.mktemp("runs"))


def test_compare_text(runs, capsys):
    assert main(["compare", "gem", "avg", "--runs-dir", str(runs), "--column", "resnet56-cifar100"]) == 0
    out = capsys.readouterr().out
    diff = np.mean(STANDARD_BEST[("gem", "resnet56-cifar100")]) - np.mean(STANDARD_BEST[("avg", "resnet56-cifar100")])
    assert f"mean difference {diff:+.2f}, 95% CI [" in out
    assert "paired over seeds 0, 1, 2 (n=3)" in out and "mobilenetv2-fashion_mnist" not in out


def test_compare_json_every_column(runs, capsys):
    assert main(["compare", "gem", "avg", "--runs-dir", str(runs), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["column"] for c in doc["comparisons"]] == ["resnet56-cifar100", "mobilenetv2-fashion_mnist"]
    assert all(c["protocol_label"] == "standard" for c in doc["comparisons"])


def test_one_seed_side_explains_missing_ci(runs, capsys):
    assert main(["compare", "max", "avg", "--runs-dir", str(runs)]) == 0
    assert "95% CI n/a (needs at least 2 seeds per side (n=1 vs n=3))" in capsys.readouterr().out


def test_unknown_pool(runs, capsys):
    assert main(["compare", "gem", "nope", "--runs-dir", str(runs)]) == 2
    assert "no runs of pool 'nope'" in capsys.readouterr().err


def test_compare_with_the_published_baseline(runs, capsys):
    assert main(["compare", "gem", "--published", "gem", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "gem vs published gem" in out and "seeds 42, 123, 456; unpaired" in out and "verdict:" in out
    assert main(["compare", "max", "--published", "global_max", "--runs-dir", str(runs), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["b"] == "published global_max (benchmark)" and doc["comparisons"] and "skipped" in doc
    assert main(["compare", "gem", "avg", "--published", "gem", "--runs-dir", str(runs)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["compare", "gem", "--published", "gem", "--metric", "final", "--runs-dir", str(runs)]) == 2


def test_compare_puts_my_pool_against_every_baseline_one_row_each(tmp_path, capsys):
    """`compare POOL` with no second pool: one row per baseline, each with a sentence saying which is higher."""
    from tests.results.fakeruns import write_run

    pool = tmp_path / "custom_pool.py"
    pool.write_text(
        "import torch.nn as nn\nclass CustomPool(nn.Module):\n    def forward(self, x):\n"
        "        return x.mean((2, 3))\n"
    )
    runs = tmp_path / "runs"
    means = {"avg": 70.0, "max": 69.0, "gem": 72.0, "avgmax": 71.0}
    for seed in range(3):
        write_run(runs, pool="file", pool_file=f"{pool}:CustomPool", seed=seed, best=71.5 + 0.1 * seed)
        for name, m in means.items():
            write_run(runs, pool=name, seed=seed, best=m + 0.1 * seed)
    assert main(["compare", "custom_pool.py", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("resnet56-cifar100 ")]
    assert [r.split()[1] for r in rows] == ["avg", "max", "gem", "avgmax"]
    assert "custom_pool.py:CustomPool@" in out
    assert "minus avg: +1.50 points (n=3 vs 3); A is higher (Welch p < 0.05)" in out
    assert "minus gem: -0.50 points (n=3 vs 3); A is lower" in out
    assert main(["compare", "custom_pool.py", "--against", "gem", "--runs-dir", str(runs)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resnet56-cifar100 ")]
    assert [r.split()[1] for r in rows] == ["gem"]


def test_published_source_rerun_and_a_missing_baseline(tmp_path, capsys):
    from tests.results.fakeruns import write_run

    for seed in range(2):
        write_run(tmp_path, "vgg16_bn", "cifar100", "gem", seed=seed, best=74.0 + seed)
    assert main(["compare", "gem", "gem", "--published", "rerun", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "third-party rerun" in out and "2 of 3 diverged" in out and "collapse" in out
    assert main(["compare", "gem", "--published", "rerun", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "name the published baseline as B" in err and len(err.strip().splitlines()) == 1
