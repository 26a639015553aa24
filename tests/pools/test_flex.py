"""FlexPooling against the formulas it cites, computed here independently on fixed inputs.

- the authors' code (``resnet_softflexpool.py``): weights [C, H, W] = softmax over the H*W positions
  of each channel, initialised uniform; output y_k = sum_ij w_ijk x_ijk;
- the paper's text (Sec. 3): raw weights w_ijk initialised to 1 / (H*W), the same weighted sum,
  and its Eq. 2 regulariser R = sum_k (sum_ij w_ijk - 1)^2.
"""

import pytest
import torch

from poolbench.pools import build_pool, create_pool


def _fixed(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_default_is_the_authors_per_channel_softmax_map():
    x, theta = _fixed(4, 3, 5, 6), _fixed(3, 5, 6, seed=1)
    pool = create_pool("flex", channels=3, size=(5, 6))
    assert pool.weighting == "softmax" and pool.per_channel and pool.logits.shape == (3, 5, 6)
    with torch.no_grad():
        pool.logits.copy_(theta)
    # independently: for each channel k, softmax of its 30 parameters, then sum_ij w_ijk x_bkij
    want = torch.zeros(4, 3)
    for k in range(3):
        e = theta[k].exp()
        w = e / e.sum()
        for b in range(4):
            want[b, k] = (w * x[b, k]).sum()
    assert torch.allclose(pool(x), want, atol=1e-6)
    assert torch.allclose(pool.spatial_weights().sum((1, 2)), torch.ones(3))


def test_uniform_init_is_gap_for_both_variants():
    x = _fixed(2, 4, 8, 8)
    for weighting in ("softmax", "raw"):
        for kw in ({"channels": 4, "size": (8, 8)}, {}):  # sized up front, or on the first input
            pool = create_pool("flex", weighting=weighting, **kw)
            assert torch.allclose(pool(x), x.mean((2, 3)), atol=1e-6), (weighting, kw)
            assert torch.allclose(pool.spatial_weights(), torch.full((4, 8, 8), 1 / 64))


def test_raw_variant_is_the_papers_weighted_sum_and_eq2_regulariser():
    x, w = _fixed(3, 2, 4, 4), _fixed(2, 4, 4, seed=2) * 0.1  # raw weights may be negative
    pool = create_pool("flex", channels=2, weighting="raw", size=(4, 4))
    assert torch.allclose(pool.logits, torch.full((2, 4, 4), 1 / 16))  # the paper: 1/(height x width)
    assert pool.weight_penalty().item() == pytest.approx(0.0, abs=1e-12)  # sums are 1 at init
    with torch.no_grad():
        pool.logits.copy_(w)
    want = torch.stack([torch.stack([(w[k] * x[b, k]).sum() for k in range(2)]) for b in range(3)])
    assert torch.allclose(pool(x), want, atol=1e-6)
    r = sum((float(w[k].sum()) - 1.0) ** 2 for k in range(2))  # Eq. 2 by hand
    assert pool.weight_penalty().item() == pytest.approx(r, rel=1e-6)
    assert torch.equal(pool.spatial_weights(), w)


def test_softmax_weights_have_no_regulariser():
    pool = create_pool("flex", channels=2, size=(3, 3))
    assert not pool.has_weight_penalty
    with pytest.raises(ValueError, match="identically 0 for softmax"):
        pool.weight_penalty()


def test_gradients_reach_the_weights_and_bad_arguments_are_named():
    for weighting in ("softmax", "raw"):
        pool = build_pool("flex", channels=3, weighting=weighting, size=(4, 4))
        pool(_fixed(2, 3, 4, 4) ** 2).sum().backward()
        assert pool.logits.grad is not None and pool.logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="softmax, raw"):
        create_pool("flex", weighting="sigmoid")
