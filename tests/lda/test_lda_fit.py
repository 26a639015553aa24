"""Closed-form LDA pooling: scatter matrices, the eigen-solution, localisation, the downsampling module."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from poolbench.lda.downsample import LDADownsample, check_lda_layer, save_downsample_weights
from poolbench.lda.fit import fit_lda_pooling, solve_pooling, window_centres
from poolbench.lda.scatter import ScatterAccumulator, standardize_maps

K, C, H, W = 4, 8, 6, 6
SIGNAL = [(1, 4), (2, 4)]  # the pixels that carry the class


def planted(n: int = 2000, batch: int = 500, seed: int = 0, signal=SIGNAL, strength: float = 1.0):
    """Noise maps; at the SIGNAL pixels every channel gets a class-dependent offset."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(K, C, generator=torch.Generator().manual_seed(1)) * strength
    for _ in range(0, n, batch):
        y = torch.randint(K, (batch,), generator=g)
        x = torch.randn(batch, C, H, W, generator=g)
        for r, c in signal:
            x[:, :, r, c] += mu[y]
        yield x, y


def brute_force_scatter(x: torch.Tensor, y: torch.Tensor):
    z = standardize_maps(x)  # [N, C, P]
    a = torch.zeros(z.shape[-1], z.shape[-1], dtype=torch.float64)
    b = torch.zeros_like(a)
    overall = z.mean(0)
    for k in y.unique():
        zk = z[y == k]
        mk = zk.mean(0)
        a += len(zk) * (mk - overall).T @ (mk - overall)
        for i in range(len(zk)):
            b += (zk[i] - mk).T @ (zk[i] - mk)
    return a, b


def test_streamed_scatter_equals_the_definition():
    x, y = next(planted(n=60, batch=60))
    acc = ScatterAccumulator(K)
    for i in range(0, 60, 16):  # uneven batches
        acc.update(x[i:i + 16], y[i:i + 16])
    a, b = acc.scatter()
    a_ref, b_ref = brute_force_scatter(x, y)
    assert torch.allclose(a, a_ref, atol=1e-8) and torch.allclose(b, b_ref, atol=1e-8)
    # standardised maps sum to zero: the uniform direction is invisible to both
    ones = torch.ones(H * W, dtype=torch.float64)
    assert (a @ ones).abs().max() < 1e-8 and (b @ ones).abs().max() < 1e-8


def test_at_most_max_per_class():
    acc = ScatterAccumulator(K, max_per_class=7)
    for x, y in planted(n=100, batch=50):
        acc.update(x, y)
    assert acc.counts.tolist() == [7] * K and acc.full


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_p_concentrates_on_the_pixels_that_carry_the_class(norm):
    p, meta = fit_lda_pooling(planted(), K, alpha=0.0, norm=norm)
    assert p.shape == (1, H * W) and meta["size"] == [H, W] and meta["norm"] == norm
    pm = np.abs(p[0]).reshape(H, W)
    on = sum(pm[r, c] for r, c in SIGNAL)
    total = pm.sum() if norm == "l1" else (pm ** 2).sum()
    assert (on if norm == "l1" else sum(pm[r, c] ** 2 for r, c in SIGNAL)) / total > 0.8
    assert set(np.argsort(pm.ravel())[-2:]) == {r * W + c for r, c in SIGNAL}
    assert np.isclose(np.abs(p).sum() if norm == "l1" else np.linalg.norm(p), 1.0)
    assert p[0][SIGNAL[0][0] * W + SIGNAL[0][1]] > 0  # sign fixed: the peak is positive


def test_p_beats_average_pooling_on_the_fisher_ratio():
    acc = ScatterAccumulator(K)
    for x, y in planted(signal=[(0, 0), (5, 5)]):
        acc.update(x, y)
    a, b = (m.numpy() for m in acc.scatter())
    p, vals = solve_pooling(a, b, (H, W), alpha=0.0)
    ratio = lambda v: (v @ a @ v) / (v @ b @ v)  # noqa: E731
    rng = np.random.default_rng(0)
    assert ratio(p[0]) == pytest.approx(vals[0], rel=1e-3)
    assert all(ratio(p[0]) >= ratio(rng.standard_normal(H * W)) for _ in range(50))


def test_alpha_pulls_the_weights_towards_the_centre():
    acc = ScatterAccumulator(K)
    # information everywhere (a class offset on every pixel): only the penalty breaks the tie
    for x, y in planted(signal=[(r, c) for r in range(H) for c in range(W)], strength=0.3):
        acc.update(x, y)
    a, b = (m.numpy() for m in acc.scatter())
    d2 = ((np.indices((H, W)) - 2.5) ** 2).sum(0).ravel()
    spread = lambda p: (np.abs(p) * d2).sum() / np.abs(p).sum()  # noqa: E731
    spreads = [spread(solve_pooling(a, b, (H, W), alpha)[0][0]) for alpha in (0.0, 1.0, 100.0)]
    assert spreads[2] < spreads[1] < spreads[0]


def test_many_outputs_follow_their_window_centres():
    acc = ScatterAccumulator(K)
    for x, y in planted(signal=[(r, c) for r in range(H) for c in range(W)], strength=0.3):
        acc.update(x, y)
    a, b = (m.numpy() for m in acc.scatter())
    p, vals = solve_pooling(a, b, (H, W), alpha=100.0, n_out=2, out_size=(3, 3))
    assert p.shape == (2, 9, H * W) and vals.shape == (2, 9) and (vals[0] >= vals[1]).all()
    centres = window_centres((H, W), (3, 3))
    assert np.allclose(centres[0], [0.5, 0.5]) and np.allclose(centres[-1], [4.5, 4.5])
    peaks = np.abs(p[0]).argmax(-1)
    peak_rc = np.stack([peaks // W, peaks % W], 1)
    assert np.abs(peak_rc - centres).max() <= 0.5 + 1e-9  # each output peaks inside its own 2x2 block


def test_downsample_module_shapes_packing_and_a_known_p():
    # p = a delta on the top-left pixel of each 2x2 block: exactly a stride-2 subsample, both copies
    ho, wo = H // 2, W // 2
    p = torch.zeros(2, ho * wo, H * W)
    for m in range(ho * wo):
        p[:, m, (m // wo) * 2 * W + (m % wo) * 2] = 1.0
    mod = LDADownsample(p, (H, W), (ho, wo))
    x = torch.randn(3, C, H, W)
    out = mod(x)
    assert out.shape == (3, 2 * C, ho, wo)
    assert torch.allclose(out[:, :C], x[:, :, ::2, ::2]) and torch.allclose(out[:, C:], x[:, :, ::2, ::2])
    other = LDADownsample(torch.rand(2, ho * wo, H * W), (H, W), (ho, wo))
    packed = mod.pack([mod, other])
    x2 = torch.randn(3, C, H, W)
    got = packed(torch.cat([x, x2], 1))
    assert torch.allclose(got, torch.cat([mod(x), other(x2)], 1), atol=1e-6)
    assert mod.state_dict() == {}  # p comes from the weights file, not the checkpoint
    with pytest.raises(ValueError, match="fitted on 6x6"):
        mod(torch.randn(1, C, 8, 8))


def test_resnet_with_an_lda_downsampling(tmp_path):
    from poolbench.models import create_model
    from poolbench.train.packed import pack_models, verify_pack

    p = np.random.default_rng(0).random((2, 16 * 16, 32 * 32))
    path = save_downsample_weights(tmp_path / "l1.pt", p, {"size": [32, 32], "out_size": [16, 16], "layer": 1})
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=10, lda_layer=1, lda_weights=str(path))
    plain = create_model("resnet20", num_classes=10)
    entry = model.stages[1]
    assert isinstance(entry[0], LDADownsample) and entry[1].conv1.stride == (1, 1)
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    extra = sum(q.numel() for q in model.parameters()) - sum(q.numel() for q in plain.parameters())
    assert extra == 32 * 32 * 9 - 16 * 32 * 9  # the stage entry's conv1 now reads 2C channels
    torch.manual_seed(1)
    other = create_model("resnet20", num_classes=10, lda_layer=1, lda_weights=str(path)).eval()
    packed = pack_models([model, other])
    verify_pack(packed, [model, other], torch.randn(2, 3, 32, 32))


def test_layer_checks_say_what_to_do():
    with pytest.raises(ValueError, match="--pool lda"):
        check_lda_layer(3, "w.pt")
    with pytest.raises(ValueError, match="needs lda_weights"):
        check_lda_layer(1, None)
    with pytest.raises(ValueError, match="1..2"):
        check_lda_layer(0, "w.pt")
