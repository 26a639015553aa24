"""gmp against Murray & Perronnin 2014's primal solution xi = (X X^T + lam I)^{-1} X 1, written out
per sample in float64, on maps where the pool solves the dual (N <= C) and the primal (N > C)."""

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, map_positions


def gmp_reference(x, w, lam):
    out = []
    for i in range(x.shape[0]):
        xs = map_positions(x, i).T  # X [C, N]
        c = xs.shape[0]
        out.append(torch.linalg.inv(xs @ xs.T + lam * torch.eye(c, dtype=xs.dtype)) @ xs.sum(1))
    return torch.stack(out)


@pytest.mark.parametrize("hw", [(2, 3), (4, 4), (1, 1)])  # N = 6 <= C, N = 16 > C, N = 1
@pytest.mark.parametrize("lam", [1.0, 0.1])
def test_gmp_equals_the_primal_solution(hw, lam):
    pool = build_pool("gmp", channels=8, lam=lam)
    x = torch.rand(3, 8, *hw)
    assert_matches_reference(pool, lambda x, w: gmp_reference(x, w, lam), x)


def test_gmp_gives_every_position_the_same_similarity_when_the_ridge_vanishes():
    x = torch.rand(2, 16, 3, 3)  # 9 positions, 16 channels: X^T xi = 1 is solvable
    xi = build_pool("gmp", channels=8, lam=1e-6)(x)
    similarities = torch.einsum("bcn,bc->bn", x.flatten(2), xi)
    assert torch.allclose(similarities, torch.ones_like(similarities), atol=1e-3)


def test_gmp_on_a_1x1_map_is_x_over_its_squared_norm_plus_lam():
    x = torch.rand(4, 8, 1, 1)
    v = x.flatten(1)
    assert torch.allclose(build_pool("gmp", channels=8, lam=2.0)(x), v / (v.pow(2).sum(1, keepdim=True) + 2.0))


def test_gmp_refuses_a_ridge_that_is_not_positive():
    with pytest.raises(ValueError, match="lam must be > 0"):
        build_pool("gmp", channels=8, lam=0.0)
