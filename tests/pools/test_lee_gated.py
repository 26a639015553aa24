"""lee_gated against Lee, Gallagher & Tu 2016, Eq. 2, written out per sample and channel."""

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, perturb


def gate_reference(x, w):
    rows = []
    for i in range(x.shape[0]):
        row = []
        for c in range(x.shape[1]):
            region = x[i, c].reshape(-1)
            g = 1 / (1 + torch.exp(-(w["mask"] @ region)))
            row.append(g * region.max() + (1 - g) * region.sum() / region.numel())
        rows.append(torch.stack(row))
    return torch.stack(rows)


@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_lee_gated_equals_eq_2(hw):
    pool = perturb(build_pool("lee_gated", channels=5, size=hw))
    assert_matches_reference(pool, gate_reference, torch.randn(3, 5, *hw))


def test_lee_gated_starts_at_half_and_refuses_another_map_size():
    pool = build_pool("lee_gated", channels=4)
    x = torch.rand(2, 4, 3, 3)
    assert torch.allclose(pool(x), 0.5 * (x.amax((2, 3)) + x.mean((2, 3))))
    assert pool.mask.shape == (9,)
    with pytest.raises(ValueError, match=r"lee_gated: its gating mask has 9 weights, .* got a 2x2 map; build the pool"):
        pool(torch.rand(2, 4, 2, 2))
