"""compare_pools: per (protocol, column) statistics, pairing only over matching seeds."""

import numpy as np
import pytest
from scipy import stats as sps

from poolbench.results.compare import compare_pools, render_comparison
from poolbench.results.index import build_index
from tests.results.fakeruns import write_run

GEM = {0: 72.3, 1: 72.5, 2: 72.4}
AVG = {1: 70.4, 2: 70.2, 5: 70.0}  # seeds 1 and 2 match


@pytest.fixture
def conn(tmp_path):
    for pool, runs in (("gem", GEM), ("avg", AVG)):
        for seed, best in runs.items():
            write_run(tmp_path, pool=pool, seed=seed, best=best)
            write_run(tmp_path, "vgg16_bn", "cifar100", pool, seed=seed, best=best - 1)
    write_run(tmp_path, pool="gem", seed=9, best=50.0, protocol={"epochs": 3})  # other protocol
    return build_index(tmp_path)


def test_numbers_match_scipy_and_pairs_match_seeds(conn):
    res = compare_pools(conn, "gem", "avg", column="resnet56-cifar100")
    assert len(res) == 1
    r = res[0]
    a, b = list(GEM.values()), list(AVG.values())
    assert r["mean_diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert r["welch_p"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert r["ci95"][0] < r["mean_diff"] < r["ci95"][1]
    assert r["paired"]["seeds"] == [1, 2]
    assert r["paired"]["t_p"] == pytest.approx(sps.ttest_rel([72.5, 72.4], [70.4, 70.2]).pvalue)
    assert r["n_a"] == 3  # the 3-epoch gem run (another protocol) stays out


def test_every_column_in_the_benchmarks_order(conn):
    res = compare_pools(conn, "gem", "avg")
    assert [r["column"] for r in res] == ["resnet56-cifar100", "vgg16_bn-cifar100"]
    text = render_comparison(res, "gem", "avg")
    assert "gem minus avg" in text and "Welch's t-test p" in text and "paired over seeds 1, 2 (n=2)" in text


def test_unknown_pool_or_column_lists_the_known_ones(conn):
    with pytest.raises(ValueError, match="pools with runs: avg, gem"):
        compare_pools(conn, "gem", "gme")
    with pytest.raises(ValueError, match="columns: resnet56-cifar100, vgg16_bn-cifar100"):
        compare_pools(conn, "gem", "avg", column="resnet20-cifar10")


def test_against_the_published_runs_welch_and_bootstrap_unpaired(conn):
    from poolbench.results.compare import compare_with_published, render_published_comparison

    res = compare_with_published(conn, "gem", "gem")
    (r,) = [c for c in res["comparisons"] if c["column"] == "resnet56-cifar100"]
    theirs = [72.39, 72.0, 72.49]  # the leaderboard's gem, seeds 42, 123, 456
    assert r["seeds_b"] == [42, 123, 456] and r["n_a"] == 3 and r["n_b"] == 3
    assert r["mean_diff"] == pytest.approx(np.mean(list(GEM.values())) - np.mean(theirs))
    assert r["welch_p"] == pytest.approx(sps.ttest_ind(list(GEM.values()), theirs, equal_var=False).pvalue)
    boot = sps.bootstrap(
        (np.array(list(GEM.values())), np.array(theirs)),
        lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
        n_resamples=9999,
        rng=np.random.default_rng(0),
        method="BCa",
    ).confidence_interval
    assert r["ci95"] == pytest.approx((boot.low, boot.high))
    assert r["paired"] is None and "another code base" in r["paired_reason"]  # seed 42 is not our seed 42
    assert "no difference detected at n=3 vs n=3" in r["verdict"] and "not evidence" in r["verdict"]
    text = render_published_comparison(res, "gem")
    assert "gem vs published gem" in text and "verdict: no difference detected" in text
    # the other protocol and the column without our runs are named, never silently compared
    assert any("epochs=3" in w and "standard-protocol" in why for w, why in res["skipped"])
    assert ("mobilenetv2-fashion_mnist", "no finished standard-protocol runs of gem") in res["skipped"]


def test_against_the_published_runs_says_when_n_is_too_small(tmp_path):
    from poolbench.results.compare import compare_with_published

    write_run(tmp_path, pool="softpool", seed=42, best=75.0)
    conn = build_index(tmp_path)
    (r,) = compare_with_published(conn, "softpool", "avg_max", column="resnet56-cifar100")["comparisons"]
    assert r["welch_p"] is None and r["ci95"] is None
    assert r["verdict"].startswith("cannot conclude: n=1 vs n=3 is too small")
    with pytest.raises(ValueError, match="no published baseline"):
        compare_with_published(conn, "softpool", "softpool")
    with pytest.raises(ValueError, match="no column"):
        compare_with_published(conn, "softpool", "gem", column="resnet20-cifar10")


def test_every_comparison_says_what_its_n_can_detect(conn):
    (r,) = compare_pools(conn, "gem", "avg", column="resnet56-cifar100")
    a, b = list(GEM.values()), list(AVG.values())
    sd = np.sqrt((np.var(a, ddof=1) * 2 + np.var(b, ddof=1) * 2) / 4)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert r["detectable"] == pytest.approx(z * sd * np.sqrt(1 / 3 + 1 / 3))
    assert not r["below_detectable"]  # +2.2 points, far above
    assert f"{r['detectable']:.2f} points; the difference +2.20 is above it" in render_comparison([r], "gem", "avg")
    small = dict(r, mean_diff=0.01, below_detectable=True)
    from poolbench.results.compare import verdict

    assert "below the" in verdict(small) and "cannot detect" in render_comparison([small], "gem", "avg")


def test_the_reruns_collapses_count_as_diverged_not_as_accuracies(tmp_path):
    from poolbench.results.compare import compare_with_published

    for seed, acc in enumerate([74.0, 74.4]):
        write_run(tmp_path, "vgg16_bn", "cifar100", "gem", seed=seed, best=acc)
    write_run(tmp_path, "vgg16_bn", "cifar100", "gem", seed=5, status="diverged")
    res = compare_with_published(build_index(tmp_path), "gem", "gem", source="rerun")
    (r,) = res["comparisons"]
    assert r["n_b"] == 1 and r["mean_b"] == 74.58 and r["n_diverged_b"] == 2  # seeds 1, 2 at 1.0% = chance
    assert r["n_a"] == 2 and r["n_diverged_a"] == 1
    with pytest.raises(ValueError, match="have no column"):
        compare_with_published(build_index(tmp_path), "gem", "gem", column="resnet56-cifar100", source="rerun")


def test_a_pool_is_found_by_any_unique_prefix_of_its_label(tmp_path):
    from poolbench.results.compare import resolve_pool

    for seed in (0, 1):
        write_run(
            tmp_path,
            pool="file",
            seed=seed,
            pool_file="/x/deepseek_channel_gate.py:CustomPool",
            pool_file_sha="ab12" * 4,
        )
        write_run(tmp_path, pool="gem", seed=seed)
        write_run(tmp_path, pool="gemgate", seed=seed)
        write_run(tmp_path, pool="gem", seed=seed, pool_args={"p": 2})
    conn = build_index(tmp_path)
    assert resolve_pool(conn, "deepseek") == "deepseek_channel_gate.py:CustomPool@ab12"
    assert resolve_pool(conn, "deepseek_channel_gate.py") == "deepseek_channel_gate.py:CustomPool@ab12"
    assert resolve_pool(conn, "gem") == "gem"  # a whole label first
    assert resolve_pool(conn, "gemg") == "gemgate"
    with pytest.raises(ValueError, match="matches 3 pools"):
        resolve_pool(conn, "ge")
