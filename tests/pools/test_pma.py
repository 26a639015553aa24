"""pma against the Set Transformer's PMA with one seed (Lee et al., ICML 2019, Eq. 5-6, 11), per sample."""

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, attention, layer_norm, linear, map_positions, perturb


def pma_reference(x, w, heads, ln=True):
    def norm(t, name):
        return layer_norm(t, w[f"{name}.weight"], w[f"{name}.bias"], 1e-5) if ln else t

    out = []
    for i in range(x.shape[0]):
        z = torch.relu(linear(map_positions(x, i), w, "rff_in"))  # rFF(Z)
        s = w["seed"][None]
        mh = linear(attention(linear(s, w, "wq"), linear(z, w, "wk"), linear(z, w, "wv"), heads), w, "wo")
        h = norm(s + mh, "ln0")
        out.append(norm(h + torch.relu(linear(h, w, "rff")), "ln1")[0])
    return torch.stack(out)


@pytest.mark.parametrize("kwargs", [{}, {"num_heads": 1, "ln": False}])
@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_pma_equals_the_set_transformers_equations(kwargs, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool("pma", channels=8, **kwargs))
    x = torch.randn(3, 8, *hw)
    heads = kwargs.get("num_heads", 4)
    assert pool.num_heads == heads
    assert_matches_reference(pool, lambda x, w: pma_reference(x, w, heads, kwargs.get("ln", True)), x)
