"""mil_attn and mil_gated against Ilse, Tomczak & Welling 2018, Eq. 9 and 10, written out per sample."""

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, map_positions, perturb, softmax


def mil_reference(x, w, gated):
    out = []
    for i in range(x.shape[0]):
        h = map_positions(x, i)  # the bag: one instance per position, [N, C]
        inner = torch.tanh(h @ w["V.weight"].T)
        if gated:
            inner = inner * (1 / (1 + torch.exp(-(h @ w["U.weight"].T))))
        a = softmax((inner @ w["w.weight"].T)[:, 0])
        out.append(a @ h)
    return torch.stack(out)


@pytest.mark.parametrize("name, gated", [("mil_attn", False), ("mil_gated", True)])
@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_mil_pools_equal_eq_9_and_10(name, gated, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool(name, channels=6, hidden=5))
    x = torch.randn(3, 6, *hw)
    assert_matches_reference(pool, lambda x, w: mil_reference(x, w, gated), x)
    assert set(dict(pool.named_parameters())) == (
        {"V.weight", "w.weight", "U.weight"} if gated else {"V.weight", "w.weight"}
    )
