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
