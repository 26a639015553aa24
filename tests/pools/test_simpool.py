"""simpool against the authors' definition (Psomas et al., ICCV 2023, Sec. 4; billpsomas/simpool sp.py),
written out per sample, with our per-sample value shift for gamma; and well defined on a 1x1 map."""

import pytest
import torch

from poolbench.pools import build_pool

from .reference import assert_matches_reference, attention, layer_norm, linear, map_positions, perturb


def simpool_reference(x, w, heads=1, gamma=None, eps=1e-6):
    out = []
    for i in range(x.shape[0]):
        z = map_positions(x, i)  # [N, C]
        q = linear(z.mean(0, keepdim=True), w, "wq")  # the query: GAP of the raw features
        v = layer_norm(z, w["norm.weight"], w["norm.bias"], 1e-6)
        k = linear(v, w, "wk")
        if gamma is None:
            y = attention(q, k, v, heads)[0]
        else:
            shifted = v - v.min() + eps  # the sample's own minimum
            y = attention(q, k, shifted**gamma, heads)[0] ** (1 / gamma)
            if "beta" in w:
                y = y + w["beta"]
        out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize(
    "kwargs", [{}, {"num_heads": 2}, {"gamma": 2.0}, {"gamma": 3.0, "num_heads": 4, "use_beta": True, "qkv_bias": True}]
)
@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_simpool_equals_the_papers_equation(kwargs, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool("simpool", channels=8, **kwargs))
    x = torch.randn(3, 8, *hw)
    ref_kwargs = {"heads": kwargs.get("num_heads", 1), "gamma": kwargs.get("gamma")}
    assert_matches_reference(pool, lambda x, w: simpool_reference(x, w, **ref_kwargs), x)


def test_simpool_with_gamma_keeps_the_input_on_a_1x1_map_and_ignores_the_batch():
    pool = build_pool("simpool", channels=8, gamma=2.0).eval()
    x = torch.rand(4, 8, 1, 1)
    y = pool(x)
    assert (y.std(0) > 1e-3).all()  # timm's per-channel shift gives 1e-6 everywhere here
    assert torch.allclose(pool(x[:1]), y[:1])  # a sample's output does not depend on its batch


def test_simpool_with_gamma_passes_the_contract():
    from poolbench.pools.check import check_pool

    report = check_pool("simpool", channels=(64,), compile=False, onnx=False, pool_args={"gamma": 2.0})
    assert report.passed, report.format_table()
