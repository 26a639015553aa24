"""probe_1x1 names what a pool computes on a 1x1 map; checked on modules whose answer is known by construction."""

import pytest
import torch
import torch.nn as nn

from poolbench.pools import build_pool
from poolbench.pools.one_by_one import probe_1x1


class Scaled(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return self.k * x.mean((2, 3))


class Learned(nn.Module):  # w_c * mean: 1 at init, one factor per channel once trained
    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return self.w * x.mean((2, 3))


class Square(nn.Module):
    def forward(self, x):
        return x.mean((2, 3)) ** 2


class SampleStd(nn.Module):  # the unbiased std over positions: 0 / 0 = NaN on a 1x1 map
    def forward(self, x):
        return x.flatten(2).std(dim=2)


class TrainOnlyRelu(nn.Module):
    def forward(self, x):
        y = x.mean((2, 3))
        return y.clamp(min=0) if self.training else y


@pytest.mark.filterwarnings("ignore:std")  # SampleStd on 1x1: the NaN is the point
def test_known_relations():
    assert probe_1x1(lambda c: build_pool("avg", channels=c)).identity
    r = probe_1x1(lambda c: Scaled(2.0))
    assert (r.relation, r.identity, r.same_as_identity) == ("2 x", False, True)
    r = probe_1x1(lambda c: Learned(c))
    assert r.at_init == "x" and r.relation.startswith("a_c x") and r.same_as_identity and not r.identity
    r = probe_1x1(lambda c: Square())
    assert r.relation == "another function of x" and not r.same_as_identity
    assert "not the identity" in r.text()
    r = probe_1x1(lambda c: SampleStd())
    assert r.relation == "NaN output" and not r.same_as_identity
    assert "another function" not in r.text() and "no function of x" in r.text()
    r = probe_1x1(lambda c: TrainOnlyRelu())
    assert r.relation == "train: max(x, 0); eval: x" and not r.identity


def test_a_constant_output_is_named_and_not_the_identity():
    r = probe_1x1(lambda c: Scaled(0.0))  # 0 x: no scale the classifier could absorb
    assert (r.relation, r.same_as_identity) == ("a constant", False) and r.text() == "a constant: not the identity"
    assert probe_1x1(lambda c: build_pool("cov", channels=c, dim=4)).relation == "a constant"


def test_the_benchmarks_baselines_on_1x1():
    # the leaderboard's note: on 1x1 maps avg, max and avg_max are (functions of) the identity, GeM max(x, eps)
    assert probe_1x1(lambda c: build_pool("max", channels=c)).relation == "x"
    assert probe_1x1(lambda c: build_pool("avgmax", channels=c)).relation == "2 x"
    gem = probe_1x1(lambda c: build_pool("gem", channels=c))
    assert gem.relation == "max(x, 1e-06)" and gem.same_as_identity and not gem.identity
    assert probe_1x1(lambda c: build_pool("catavgmax", channels=c)).relation == "[x, x]"


def test_the_docs_pool_table_says_what_the_probe_finds():
    import re
    from pathlib import Path

    from poolbench.pools import list_pools

    readme = (Path(__file__).resolve().parents[2] / "docs" / "pools.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \|.*\| ([^|]+) \|$", readme, re.M)}
    assert set(list_pools()) <= set(rows), set(list_pools()) - set(rows)  # every registered pool has its row
    checked = list_pools()
    for name in checked:
        assert rows[name] == probe_1x1(lambda c, name=name: build_pool(name, channels=c)).text(), name
