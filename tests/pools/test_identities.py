"""Closed-form identities of the pools (each would catch a wrong formula or a wrong reduction)."""

import math

import pytest
import torch

from poolbench.pools import build_pool, create_pool
from poolbench.pools.lda import load_lda_weights, save_lda_weights


@pytest.fixture
def x():
    return torch.randn(3, 5, 7, 5, generator=torch.Generator().manual_seed(0))


def avg(x):
    return x.mean((2, 3))


def mx(x):
    return x.amax((2, 3))


def test_avg_max_and_sums(x):
    assert torch.allclose(create_pool("avg")(x), avg(x))
    assert torch.equal(create_pool("max")(x), mx(x))
    assert torch.allclose(create_pool("avgmax")(x), avg(x) + mx(x))  # plain sum: the benchmark's avg_max
    assert torch.allclose(create_pool("avgmax_half")(x), 0.5 * (avg(x) + mx(x)))


def test_catavgmax_is_the_concatenation(x):
    pool = create_pool("catavgmax")
    assert pool.feat_mult() == 2
    assert torch.allclose(pool(x), torch.cat([avg(x), mx(x)], dim=1))


def test_gem_with_p1_is_avg_and_large_p_approaches_max(x):
    pos = x.abs() + 0.1
    assert torch.allclose(create_pool("gem", p=1.0)(pos), avg(pos), atol=1e-6)
    assert torch.allclose(build_pool("gem_channel", channels=5, p=1.0)(pos), avg(pos), atol=1e-6)
    assert torch.allclose(create_pool("gem", p=200.0)(pos), mx(pos), rtol=0.03)
    # p = 3 against the textbook formula, and huge values that overflow x**p in fp32 naively
    assert torch.allclose(create_pool("gem")(pos), pos.pow(3).mean((2, 3)).pow(1 / 3), rtol=1e-5)
    assert torch.isfinite(create_pool("gem", p=12.0)(pos * 1e4)).all()


def test_gem_channel_uses_one_p_per_channel(x):
    pos = x.abs() + 0.1
    pool = build_pool("gem_channel", channels=5)
    with torch.no_grad():
        pool.p.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    for c in range(5):
        ref = create_pool("gem", p=float(c + 1))(pos[:, c : c + 1])[:, 0]
        assert torch.allclose(pool(pos)[:, c], ref, rtol=1e-5)


def test_gem_is_computed_in_fp32_under_autocast(x):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = create_pool("gem")(x.bfloat16())
    assert out.dtype == torch.float32


def test_lse_between_avg_and_max(x):
    sharp, soft = create_pool("lse", r=1000.0)(x), create_pool("lse", r=1e-3)(x)
    assert torch.allclose(sharp, mx(x), atol=1e-2)
    assert torch.allclose(soft, avg(x), atol=5e-3)
    mid = create_pool("lse", r=1.0)(x)
    assert (mid >= avg(x) - 1e-5).all() and (mid <= mx(x) + 1e-5).all()
    # the mean-like formula exactly, and no overflow where exp(r x) is inf
    ref = torch.log(torch.exp(2.0 * x.double()).mean((2, 3))) / 2.0
    assert torch.allclose(create_pool("lse", r=2.0)(x).double(), ref, atol=1e-5)
    assert torch.isfinite(create_pool("lse", r=10.0)(x * 1e4)).all()


def test_softpool_and_topk_of_a_constant_map_give_the_constant():
    const = torch.full((2, 3, 7, 5), -1.25)
    assert torch.allclose(create_pool("softpool")(const), torch.full((2, 3), -1.25))
    assert torch.allclose(create_pool("topk", k=4)(const), torch.full((2, 3), -1.25))


def test_softpool_formula_and_huge_values(x):
    w = torch.exp(x) / torch.exp(x).sum((2, 3), keepdim=True)
    assert torch.allclose(create_pool("softpool")(x), (w * x).sum((2, 3)), atol=1e-6)
    assert torch.allclose(create_pool("softpool")(x + 1e4), (w * x).sum((2, 3)) + 1e4)


def test_topk(x):
    assert torch.allclose(create_pool("topk", k=35)(x), avg(x), atol=1e-6)  # k = H*W
    assert torch.allclose(create_pool("topk", k=1000)(x), avg(x), atol=1e-6)  # clipped to H*W
    assert torch.equal(create_pool("topk", k=1)(x), mx(x))
    top3 = x.flatten(2).sort(dim=2, descending=True).values[..., :3].mean(-1)
    assert torch.allclose(create_pool("topk", k=3)(x), top3)
    with pytest.raises(ValueError, match="k >= 1"):
        create_pool("topk", k=0)


def test_mixed_at_its_two_ends(x):
    pool = build_pool("mixed", channels=5)
    with torch.no_grad():
        pool.logit.fill_(100.0)
    assert torch.allclose(pool(x), mx(x), atol=1e-6)
    with torch.no_grad():
        pool.logit.fill_(-100.0)
    assert torch.allclose(pool(x), avg(x), atol=1e-6)
    with torch.no_grad():  # per channel: channel 0 max, the rest avg
        pool.logit.copy_(torch.tensor([100.0, -100.0, -100.0, -100.0, -100.0]))
    out = pool(x)
    assert torch.allclose(out[:, 0], mx(x)[:, 0]) and torch.allclose(out[:, 1:], avg(x)[:, 1:], atol=1e-6)
    assert torch.allclose(build_pool("mixed", channels=5, init=0.5)(x), 0.5 * (avg(x) + mx(x)))


def test_avgmax_gated_starts_halfway_and_its_gate_depends_on_the_data(x):
    pool = create_pool("avgmax_gated")
    assert torch.allclose(pool(x), 0.5 * (avg(x) + mx(x)))
    with torch.no_grad():
        pool.gate.weight.copy_(torch.tensor([[0.0, 1.0]]))  # gate = sigmoid(max)
    g = torch.sigmoid(mx(x))
    assert torch.allclose(pool(x), g * mx(x) + (1 - g) * avg(x), atol=1e-6)


def test_stochastic_eval_is_the_probability_weighted_mean_and_train_samples_a_value(x):
    a = x.clamp(min=0)
    pool = create_pool("stochastic").eval()
    ref = (a * a).sum((2, 3)) / a.sum((2, 3))
    assert torch.allclose(pool(x), ref, atol=1e-6)
    sampled = pool.train()(x)
    flat = a.flatten(2)
    assert ((flat == sampled.unsqueeze(2)) & (flat > 0)).any(2).all()  # a positive value of that channel
    # sampling follows p = a / sum a: a channel [3, 1] gives 3 three times as often as 1
    two = torch.tensor([3.0, 1.0]).view(1, 1, 1, 2).expand(4000, 1, 1, 2)
    torch.manual_seed(0)
    share = (pool(two) == 3.0).float().mean().item()
    assert abs(share - 0.75) < 0.03
    assert torch.equal(pool.eval()(torch.zeros(2, 3, 4, 4)), torch.zeros(2, 3))


def test_attn_starts_as_gap_and_is_a_convex_combination(x):
    pool = build_pool("attn", channels=5)
    assert torch.allclose(pool(x), avg(x), atol=1e-6)
    with torch.no_grad():
        pool.query.normal_(generator=torch.Generator().manual_seed(1))
    w = pool.spatial_weights(x)
    assert w.shape == (3, 7, 5) and torch.allclose(w.sum((1, 2)), torch.ones(3))
    assert torch.allclose(pool(x), (x * w[:, None]).sum((2, 3)), atol=1e-6)


def test_flex_starts_as_gap_sizes_itself_and_refuses_another_size(x):
    pool = create_pool("flex")  # the default: one map per channel (the paper's w_ijk, the code's [C, H, W])
    assert torch.allclose(pool(x), avg(x), atol=1e-6)
    assert pool.spatial_weights().shape == (5, 7, 5)
    with pytest.raises(ValueError, match=r"sized for 7x5 maps but got 8x8"):
        pool(torch.rand(1, 5, 8, 8))
    shared = create_pool("flex", per_channel=False, size=(7, 5))
    assert shared.logits.shape == (1, 7, 5) and shared.spatial_weights().shape == (7, 5)
    assert torch.allclose(shared(x), avg(x), atol=1e-6)


def test_flex_adapt_interpolate_resizes_the_weights():
    pool = create_pool("flex", per_channel=False, size=(8, 8), adapt="interpolate")
    with torch.no_grad():
        pool.logits.normal_()
    y = torch.rand(2, 3, 4, 4)
    assert pool(y).shape == (2, 3) and pool.spatial_weights(y).shape == (4, 4)
    assert torch.allclose(pool.spatial_weights(y).sum(), torch.tensor(1.0))
    assert pool.logits.shape == (1, 8, 8)  # the stored weights keep their size
    raw = create_pool("flex", channels=3, weighting="raw", size=(8, 8), adapt="interpolate")
    with torch.no_grad():
        raw.logits.uniform_(0, 0.1)
    sums = raw.logits.sum((1, 2))
    assert torch.allclose(raw.spatial_weights(y).sum((1, 2)), sums, rtol=1e-4)  # raw: each channel's sum kept


def test_lda_uniform_is_gap_and_matches_the_papers_normalise_pool_back_transform_form(x):
    assert torch.allclose(create_pool("lda")(x), avg(x), atol=1e-6)
    p = torch.randn(35, generator=torch.Generator().manual_seed(2))  # a raw, unnormalised "eigenvector"
    fbar, v = torch.tensor([0.3, -1.0, 2.0, 0.5, 0.0]), torch.tensor([1.5, 0.2, 3.0, 1.0, 0.7])  # dataset constants
    pool = create_pool("lda", weights=p, size=(7, 5), channel_mean=fbar.tolist())
    g = (x - fbar.view(1, -1, 1, 1)) / v.sqrt().view(1, -1, 1, 1)  # Birodkar et al. 2019, Sec. 3.6
    explicit = (g * p.view(1, 1, 7, 5)).sum((2, 3)) * v.sqrt() + fbar  # back: x sqrt(v(c)) + fbar(c)
    assert torch.allclose(pool(x), explicit, atol=1e-4)
    assert torch.equal(pool.spatial_weights(), p.view(7, 5))
    with pytest.raises(ValueError, match="fitted on 7x5 maps but got 8x8"):
        pool(torch.rand(1, 5, 8, 8))
    with pytest.raises(ValueError, match="fitted on 5 channels"):
        pool(torch.rand(1, 4, 7, 5))


def test_lda_several_maps_widen_the_output(x):
    p = torch.softmax(torch.randn(3, 35), dim=1)
    pool = create_pool("lda", weights=p, size=(7, 5))
    assert pool.feat_mult() == 3
    out = pool(x)
    assert out.shape == (3, 15)
    assert torch.allclose(out[:, 5:10], (x * p[1].view(7, 5)).sum((2, 3)), atol=1e-6)  # map 1, all channels


@pytest.mark.parametrize("suffix", [".pt", ".npz", ".json"])
def test_lda_weights_file_round_trip(tmp_path, x, suffix):
    p = torch.softmax(torch.randn(35), dim=0)
    path = save_lda_weights(tmp_path / f"p{suffix}", p, {"size": [7, 5], "model": "resnet20", "eig": [0.5]})
    q, meta = load_lda_weights(path)
    assert torch.allclose(q, p) and meta["size"] == [7, 5] and meta["model"] == "resnet20"
    pool = create_pool("lda", weights=str(path))
    assert pool.p.shape == (1, 7, 5) and torch.allclose(pool(x), (x * p.view(7, 5)).sum((2, 3)), atol=1e-6)
    fresh = create_pool("lda")  # the buffer travels with the state_dict, into a pool built without weights
    fresh.load_state_dict(pool.state_dict())
    assert torch.equal(fresh(x), pool(x))


def test_lda_rejects_bad_weights(tmp_path):
    with pytest.raises(ValueError, match="not a square map"):
        create_pool("lda", weights=torch.rand(35))
    with pytest.raises(ValueError, match="not found"):
        create_pool("lda", weights=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match=r"\.pt, \.npz or \.json"):
        save_lda_weights(tmp_path / "p.txt", torch.rand(4), {})


@pytest.mark.parametrize(
    "name",
    [
        "avg",
        "max",
        "avgmax_half",
        "catavgmax",
        "lse",
        "softpool",
        "mixed",
        "avgmax_gated",
        "topk",
        "attn",
        "flex",
        "lda",
    ],
)
def test_identity_on_a_1x1_map(name):
    x = torch.randn(4, 6, 1, 1)
    pool = build_pool(name, channels=6)
    assert torch.allclose(pool(x), x.flatten(1).repeat(1, pool.feat_mult()), atol=1e-6)


def test_1x1_maps_of_the_rest():
    x = torch.randn(4, 6, 1, 1)
    flat = x.flatten(1)
    assert torch.allclose(create_pool("avgmax")(x), 2 * flat)
    assert torch.allclose(create_pool("gem")(x), flat.clamp(min=1e-6))
    for mode in (True, False):
        assert torch.allclose(create_pool("stochastic").train(mode)(x), flat.clamp(min=0))
    assert math.isclose(create_pool("gem")(torch.zeros(1, 1, 1, 1)).item(), 1e-6, rel_tol=1e-5)
