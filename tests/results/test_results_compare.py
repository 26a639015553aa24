"""compare_pools: per (protocol, column) statistics, pairing only over matching seeds."""
import numpy as np
import pytest
from scipy import stats as sps

from fakeruns import write_run
from poolbench.results.compare import compare_pools, render_comparison
from poolbench.results.index import build_index

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
