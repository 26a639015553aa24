"""map against timm's AttentionPoolLatent as its equations (latent query, multi-head attention,
projection, residual MLP with an optional norm), written out per sample."""

import math

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, attention, layer_norm, linear, map_positions, perturb


def gelu(t):
    return 0.5 * t * (1 + torch.erf(t / math.sqrt(2)))


def map_reference(x, w, heads, qk_norm=False, norm=False):
    out = []
    c = x.shape[1]
    d = c // heads
    for i in range(x.shape[0]):
        z = map_positions(x, i)
        q = linear(w["latent"][None], w, "q")
        kv = linear(z, w, "kv")
        k, v = kv[:, :c], kv[:, c:]
        if qk_norm:  # per head
            q = torch.cat(
                [
                    layer_norm(q[:, h * d : (h + 1) * d], w["q_norm.weight"], w["q_norm.bias"], 1e-5)
                    for h in range(heads)
                ],
                1,
            )
            k = torch.cat(
                [
                    layer_norm(k[:, h * d : (h + 1) * d], w["k_norm.weight"], w["k_norm.bias"], 1e-5)
                    for h in range(heads)
                ],
                1,
            )
        o = linear(attention(q, k, v, heads), w, "proj")
        n = layer_norm(o, w["norm.weight"], w["norm.bias"], 1e-5) if norm else o
        out.append((o + linear(gelu(linear(n, w, "mlp.0")), w, "mlp.2"))[0])
    return torch.stack(out)


@pytest.mark.parametrize("kwargs", [{}, {"num_heads": 2, "qk_norm": True, "norm": True, "mlp_ratio": 2.0}])
@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_map_equals_its_equations(kwargs, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool("map", channels=8, **kwargs))
    x = torch.randn(3, 8, *hw)
    heads = kwargs.get("num_heads", 8)
    ref = lambda x, w: map_reference(x, w, heads, kwargs.get("qk_norm", False), kwargs.get("norm", False))  # noqa: E731
    assert_matches_reference(pool, ref, x)


def test_map_refuses_heads_that_do_not_split_the_channels():
    with pytest.raises(ValueError, match="map: 12 channels do not split into 8 heads; pass num_heads="):
        build_pool("map", channels=12, num_heads=8)


def test_map_heads_default_to_the_largest_divisor_up_to_8():
    assert [build_pool("map", channels=c).num_heads for c in (64, 12, 6, 7)] == [8, 6, 6, 7]
