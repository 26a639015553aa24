"""The published baselines: the numbers are the leaderboard's, three seeds each, summarised independently."""

import json
from pathlib import Path

import numpy as np
import pytest

from poolbench.results import published as pub

LEADERBOARD = Path(__file__).resolve().parents[3] / "shared" / "published" / "cv-pooling-aggregation.json"


@pytest.mark.skipif(not LEADERBOARD.exists(), reason=f"the leaderboard copy {LEADERBOARD} is absent")
def test_every_published_run_is_the_leaderboards():
    doc = json.loads(LEADERBOARD.read_text())
    assert tuple(doc["columns"]) == pub.BENCHMARK_COLUMNS
    theirs = {(r["pool"], r["seed"], c): r[c] for r in doc["runs"] for c in doc["columns"]}
    ours = {
        (p, s, c): v for p, cols in pub.PUBLISHED.items() for c, by_seed in cols.items() for s, v in by_seed.items()
    }
    assert ours == theirs


def test_three_seeds_each_and_their_summary():
    for pool in pub.PUBLISHED:
        for col in pub.COLUMNS:
            vals = pub.values(pool, col)
            assert sorted(vals) == list(pub.SEEDS)
            mean, std, n = pub.summary(pool, col)
            assert n == 3 and mean == pytest.approx(np.mean(list(vals.values())))
            assert std == pytest.approx(np.std(list(vals.values()), ddof=1))
    # the leaderboard's own note: global_max on mobilenetv2-fmnist has mean 83.26 with one collapsed run
    assert pub.summary("max", "mobilenetv2-fashion_mnist")[0] == pytest.approx(83.26, abs=0.005)
    assert pub.cell_text("gem", "vgg16_bn-cifar100") == "73.44 ± 0.84 (n=3: 74.02, 72.48, 73.83)"


def test_names_resolve_both_ways_and_unknown_is_named():
    assert pub.resolve_pool("global_max") == pub.resolve_pool("max") == "global_max"
    with pytest.raises(ValueError, match="avg_max .ours: avgmax."):
        pub.resolve_pool("softpool")


RERUN = LEADERBOARD.parent / "cv-pooling-aggregation-rerun-seeds-1-3.csv"


@pytest.mark.skipif(not RERUN.exists(), reason=f"the rerun copy {RERUN} is absent")
def test_every_rerun_is_the_csvs():
    import csv

    rows = [r for r in csv.DictReader(RERUN.open()) if r["seed"] in ("1", "2", "3")]
    theirs = {
        (r["model"].removeprefix("baseline:"), int(r["seed"])): (
            float(r["test_acc_vgg16bn-cifar100"]),
            float(r["elapsed_vgg16bn-cifar100"]),
        )
        for r in rows
    }
    ours = {(r.pool, r.seed): (r.accuracy, r.elapsed_s) for r in pub.runs("rerun")}
    assert ours == theirs and len(ours) == 9
    # the seed-42 rows of the copy are the benchmark's own numbers
    for r in csv.DictReader(RERUN.open()):
        if r["seed"] == "42":
            pool = r["model"].removeprefix("baseline:")
            assert float(r["test_acc_vgg16bn-cifar100"]) == pub.PUBLISHED[pool]["vgg16bn-cifar100"][42]


def test_collapsed_runs_are_diverged_never_accuracies():
    cells = pub.cells("rerun")
    gem = cells[("gem", "vgg16_bn-cifar100")]
    assert gem.finished == {3: 74.58} and gem.diverged_seeds == (1, 2)
    assert cells[("global_max", "vgg16_bn-cifar100")].diverged_seeds == (1,)
    assert cells[("avg_max", "vgg16_bn-cifar100")].divergence.text().startswith("0 of 3 diverged")
    assert sum(r.diverged for r in pub.runs("rerun")) == 3
    assert not any(r.diverged for r in pub.runs("benchmark"))  # 61.22 is a bad run, not chance on 10 classes
    with pytest.raises(ValueError, match="benchmark, rerun"):
        pub.runs("arxiv")
