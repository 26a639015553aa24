"""gemgate: equals GeM at initialisation, each component does what it claims, gradients reach the gate."""

from __future__ import annotations

import math

import pytest
import torch

from poolbench.pools import build_pool, create_pool, list_pools
from poolbench.pools.gem import gem
from poolbench.pools.gemgate import GeMGatePool

FULL = dict(drop=0.2, pos_drop=0.3)  # every component on


def _x(b=4, c=16, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(b, c, h, w, generator=g)) * 2


def test_registered():
    assert "gemgate" in list_pools("gem*")
    assert isinstance(create_pool("gemgate", channels=8), GeMGatePool)


@pytest.mark.parametrize("hw", [(8, 8), (3, 5), (1, 1)])
@pytest.mark.parametrize("kw", [{}, FULL, dict(per_channel_p=False), dict(spread=False), dict(gate=False)])
def test_equals_gem_at_init_in_eval(hw, kw):
    x = _x(c=16, h=hw[0], w=hw[1])
    pool = create_pool("gemgate", channels=16, **kw).eval()
    torch.testing.assert_close(pool(x), gem(x, torch.tensor(3.0)), rtol=1e-6, atol=1e-6)


def test_equals_gem_at_init_in_training_without_regularisers():
    x = _x(c=16)
    pool = create_pool("gemgate", channels=16).train()
    torch.testing.assert_close(pool(x), gem(x, torch.tensor(3.0)), rtol=1e-6, atol=1e-6)


def test_identity_on_1x1_post_relu_maps():
    x = torch.rand(5, 32, 1, 1) + 0.01
    pool = create_pool("gemgate", channels=32).eval()
    torch.testing.assert_close(pool(x), x.flatten(1))


def test_gate_residual_is_zero_at_init_and_gradients_reach_it():
    pool = create_pool("gemgate", channels=16)
    assert torch.count_nonzero(pool.w2) == 0 and torch.count_nonzero(pool.b2) == 0
    y = torch.randn(3, 16)
    torch.testing.assert_close(pool.gate_factor(y), torch.ones(3, 16))
    x = _x(c=16)
    target = torch.randn(4, 16)
    (pool(x) - target).pow(2).sum().backward()
    assert pool.w2.grad is not None and pool.w2.grad.abs().sum() > 0
    assert pool.b2.grad.abs().sum() > 0
    assert pool.delta.grad.abs().sum() > 0  # the per-channel exponent learns
    # one SGD step on the gate's zero layer opens the path to the first layer
    with torch.no_grad():
        pool.w2 -= 0.1 * pool.w2.grad
    pool.zero_grad()
    (pool(x) - target).pow(2).sum().backward()
    assert pool.w1.grad.abs().sum() > 0 and pool.b1.grad.abs().sum() > 0


def test_gate_changes_a_1x1_model_once_trained():
    pool = create_pool("gemgate", channels=16)
    with torch.no_grad():
        pool.w2.normal_()
    x = torch.rand(4, 16, 1, 1)
    assert not torch.allclose(pool.eval()(x), x.flatten(1))


def test_spread_reaches_the_gate_only_on_maps_larger_than_1x1():
    pool = create_pool("gemgate", channels=16)
    x = _x(c=16)
    pool(x).sum().backward()
    pool_w1_grad = pool.w1.grad  # zero at init (W2 = 0): open the gate first
    assert pool_w1_grad.abs().sum() == 0
    with torch.no_grad():
        pool.w2.normal_()
    pool.zero_grad()
    pool(x).sum().backward()
    assert pool.w1.grad[:, :, 16:].abs().sum() > 0  # the spread columns learn on 8x8
    pool.zero_grad()
    pool(torch.rand(4, 16, 1, 1)).sum().backward()
    assert pool.w1.grad[:, :, 16:].abs().sum() == 0  # and are skipped on 1x1
    assert create_pool("gemgate", channels=16, spread=False).w1.shape[-1] == 16


def test_channel_dropout_only_in_training():
    x = _x(b=64, c=32)
    pool = create_pool("gemgate", channels=32, drop=0.5)
    pool.eval()
    ref = pool(x)
    torch.testing.assert_close(pool(x), ref)  # deterministic in eval
    pool.train()
    torch.manual_seed(0)
    y = pool(x)
    zeros = (y == 0).float().mean().item()
    assert 0.35 < zeros < 0.65
    kept = y != 0
    torch.testing.assert_close(y[kept], 2.0 * ref[kept])  # inverted dropout: kept channels scaled 1/(1-p)


def test_position_dropout_only_in_training_and_never_on_1x1():
    x = _x(b=16, c=8)
    pool = create_pool("gemgate", channels=8, pos_drop=0.5, gate=False)
    ref = pool.eval()(x)
    pool.train()
    torch.manual_seed(0)
    y = pool(x)
    assert not torch.allclose(y, ref)
    assert torch.isfinite(y).all() and (y > 0).all()
    x1 = torch.rand(16, 8, 1, 1)
    torch.testing.assert_close(pool(x1), x1.flatten(1))
    # a 1x1 map draws no random numbers: the stream the engine seeds is untouched
    torch.manual_seed(1)
    pool(x1)
    a = torch.rand(1)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(1), a)


def test_position_dropout_never_pools_over_nothing():
    pool = create_pool("gemgate", channels=4, pos_drop=0.99, gate=False).train()
    torch.manual_seed(0)
    y = pool(_x(b=256, c=4, h=2, w=1))
    assert torch.isfinite(y).all()


def test_shared_and_frozen_exponent():
    shared = create_pool("gemgate", channels=16, per_channel_p=False)
    assert shared.delta.shape == (1,)
    frozen = create_pool("gemgate", channels=16, learn_p=False, gate=False)
    assert not frozen.delta.requires_grad
    assert list(frozen.parameters()) == [frozen.delta]


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(2, 8, 4, 4),
        torch.full((2, 8, 4, 4), 1e30),
        torch.full((2, 8, 4, 4), 1e-30),
        torch.randn(2, 8, 4, 4) * 1e6,
        -torch.rand(2, 8, 1, 1),
        torch.zeros(2, 8, 1, 1),
    ],
)
def test_finite_on_extreme_inputs_with_finite_gradients(x):
    torch.manual_seed(0)  # w2 from a fixed seed: the outcome must not depend on which tests ran before
    pool = create_pool("gemgate", channels=8, **FULL)
    with torch.no_grad():
        pool.w2.normal_()
        pool.delta.fill_(0.9)  # p near its upper clamp
    for mode in (pool.train, pool.eval):
        mode()
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        assert torch.isfinite(y).all()
        y.sum().backward()
        assert torch.isfinite(xi.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in pool.parameters() if p.grad is not None)
        pool.zero_grad()


def test_fp32_under_autocast():
    pool = create_pool("gemgate", channels=8)
    x = _x(c=8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = pool(x)
    assert y.dtype == torch.float32


def test_lazy_sizing_and_state_dict_roundtrip():
    x = _x(c=16)
    a = create_pool("gemgate", channels=16, **FULL)
    with torch.no_grad():
        a.w2.normal_()
        a.delta.normal_(std=0.1)
    lazy = create_pool("gemgate", **FULL)
    lazy.load_state_dict(a.state_dict())
    torch.testing.assert_close(lazy.eval()(x), a.eval()(x))
    fresh = create_pool("gemgate")
    assert fresh(x).shape == (4, 16) and fresh.w1.shape == (1, 8, 32)


def test_build_pool_passes_channels_and_rejects_bad_args():
    assert build_pool("gemgate", channels=64).w2.shape == (1, 64, 8)
    assert build_pool("gemgate", channels=1280).w2.shape == (1, 1280, 80)
    with pytest.raises(ValueError, match="drop"):
        create_pool("gemgate", channels=8, drop=1.0)
    with pytest.raises(ValueError, match="channels"):
        create_pool("gemgate", channels=8)(torch.rand(2, 9, 4, 4))


def test_the_parameters_keep_the_layout_saved_runs_have():
    """A leading axis of 1 on the gate's tensors (and delta [1] when shared): checkpoints load as before.
    Packed training needs nothing of the pool (each member's own pool runs on its own channels:
    tests/train/packing/test_packer.py)."""
    shapes = {n: tuple(t.shape) for n, t in create_pool("gemgate", channels=16).state_dict().items()}
    assert shapes == {"delta": (16,), "w1": (1, 8, 32), "b1": (1, 8), "w2": (1, 16, 8), "b2": (1, 16)}
    shared = create_pool("gemgate", channels=16, per_channel_p=False, spread=False)
    assert shared.delta.shape == (1,) and shared.w1.shape == (1, 8, 16)
    restored = create_pool("gemgate")  # lazily sized: sized from a saved state dict
    restored.load_state_dict(create_pool("gemgate", channels=16).state_dict())
    assert restored.channels == 16


def test_building_it_leaves_the_global_rng_alone():
    torch.manual_seed(3)
    a = create_pool("gemgate", channels=64)
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(torch.rand(3), after)
    torch.manual_seed(4)
    b = create_pool("gemgate", channels=64)
    assert not torch.equal(a.w1, b.w1)  # but the gate's first layer still depends on the seed


@pytest.mark.parametrize(
    "model,chans",
    [("resnet20", 3), pytest.param("mobilenetv2", 1, marks=pytest.mark.slow)],  # 4 s on 2 cores
)
def test_in_a_model_it_starts_as_the_gem_model_of_the_same_seed(model, chans):
    from poolbench.models import create_model

    torch.manual_seed(0)
    a = create_model(model, num_classes=10, in_chans=chans, pool="gemgate").eval()
    torch.manual_seed(0)
    b = create_model(model, num_classes=10, in_chans=chans, pool="gem").eval()
    sa, sb = a.state_dict(), b.state_dict()
    for k in sb:  # same trunk and classifier weights: the gate drew from its own generator
        if not k.startswith("head.pool."):
            assert torch.equal(sa[k], sb[k]), k
    x = torch.randn(2, chans, 32, 32)
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-6)


def test_p_min_lets_the_exponent_go_below_average_pooling():
    x = torch.rand(2, 8, 4, 4)
    default = create_pool("gemgate", channels=8, p=1.0)
    roomy = create_pool("gemgate", channels=8, p=1.0, p_min=0.5)
    with torch.no_grad():
        default.delta.fill_(-0.3)
        roomy.delta.fill_(-0.3)
    assert torch.allclose(default.p(), torch.ones(8))  # clamped at 1: the stuck case
    assert torch.allclose(roomy.p(), torch.full((8,), math.exp(-0.3)))
    y = roomy(x.requires_grad_(True))
    y.sum().backward()
    assert roomy.delta.grad.abs().sum() > 0  # below 1 the exponent still learns
    assert torch.isfinite(x.grad).all()
    # its validation names the range
    with pytest.raises(ValueError, match="p_min"):
        create_pool("gemgate", channels=8, p=1.0, p_min=0.0)
    with pytest.raises(ValueError, match=r"p=0.8 must lie in \[p_min=1.0"):
        create_pool("gemgate", channels=8, p=0.8)


def test_a_dropped_position_far_above_the_kept_maximum_stays_finite():
    """Position dropout can drop a value 1e36 times the kept maximum: its p-th power overflowed to
    inf and inf * 0 made the pooled value and every gradient NaN (seen once in ~40 random w2 draws on
    randn * 1e6 input). The kept positions' GeM is what must come out, with finite gradients."""
    from poolbench.pools.gemgate import channel_spread, masked_gem

    x = torch.tensor([[[1e-6, 2e-6, 1e30]]], requires_grad=True)
    p = torch.tensor([8.0], requires_grad=True)
    mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    pooled, xn = masked_gem(x, p, mask)
    want = ((1e-6**8 + 2e-6**8) / 2) ** (1 / 8)  # GeM over the two kept positions, by hand
    assert torch.isfinite(pooled).all() and pooled.item() == pytest.approx(want, rel=1e-5)
    spread = channel_spread(xn, mask)
    assert torch.isfinite(spread).all()
    (pooled.sum() + spread.sum()).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(p.grad).all()
    assert x.grad[0, 0, 2].item() == 0.0  # the dropped position takes no part


def test_position_dropout_on_huge_random_maps_is_finite_for_many_gates():
    """The case that failed: train mode (position dropout on), randn * 1e6 maps, random gates."""
    for seed in range(120):
        torch.manual_seed(seed)
        x = (torch.randn(2, 8, 4, 4) * 1e6).requires_grad_(True)
        pool = create_pool("gemgate", channels=8, **FULL).train()
        with torch.no_grad():
            pool.w2.normal_()
            pool.delta.fill_(0.9)
        y = pool(x)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(x.grad).all(), f"seed {seed}"
        assert all(torch.isfinite(q.grad).all() for q in pool.parameters() if q.grad is not None), f"seed {seed}"
