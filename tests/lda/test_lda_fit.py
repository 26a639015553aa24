"""Closed-form learned pooling (Birodkar et al. 2019): the fit against an independent numpy
implementation of Algorithm 1 and Sec. 3.6, the regulariser, the downsampling module and surgery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poolbench.lda.downsample import LDADownsample, check_lda_layer, save_downsample_weights, with_lda_downsampling
from poolbench.lda.fit import fit_lda_pooling, normalise, penalty_diagonals, solve_pooling
from poolbench.lda.scatter import ChannelStats, ScatterAccumulator

C, H, W = 5, 6, 6


# ----------------------------------------------------------------------------- the reference
def reference_algorithm_1(feats: np.ndarray, y: np.ndarray, alpha: float, s: int, n_eig: int, norm: str):
    """Algorithm 1 of the paper, line by line, on features normalised as Sec. 3.6 says.

    feats [K, C, I, J]. Returns p [n_eig, I', J', I, J] (top eigenvectors of (B + alpha C)^-1 A,
    largest first, each divided by its l1 or l2 norm). Uses the paper's own conventions: vec()
    stacks columns (column-major), coordinates are 1-based, and matrix inversion + a general eig.
    """
    k_all, c, i_sz, j_sz = feats.shape
    fbar = feats.mean(axis=(0, 2, 3))  # fbar(c) = 1/IJK sum f_k(i, j, c)
    v = ((feats - fbar[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    g = (feats - fbar[None, :, None, None]) / np.sqrt(v)[None, :, None, None]
    n = i_sz * j_sz
    xs = np.stack([np.stack([g[k, ch].flatten(order="F") for ch in range(c)], 1) for k in range(k_all)])  # [K, N, C]
    classes = np.unique(y)
    q_count = len(classes)
    s_bar, t_bar, b = np.zeros((n, c)), np.zeros((n, n)), np.zeros((n, n))
    for q in classes:  # lines 3-15
        s_q, t_q = np.zeros((n, c)), np.zeros((n, n))
        k_q = 0
        for k in range(k_all):
            if y[k] == q:
                s_q += xs[k]
                t_q += xs[k] @ xs[k].T
                k_q += 1
        x_q = s_q / k_q
        s_bar += x_q
        t_bar += x_q @ x_q.T
        b += t_q / k_q - x_q @ x_q.T
    a = t_bar - s_bar @ s_bar.T / q_count  # line 16
    coord_big = np.array([(nn % i_sz + 1, nn // i_sz + 1) for nn in range(n)], dtype=float)  # column-major, 1-based
    d, e = coord_big, (coord_big**2).sum(1)  # lines 17-18
    io, jo = i_sz // s, j_sz // s
    out = np.zeros((n_eig, io, jo, i_sz, j_sz))
    for m in range(n // s**2):  # lines 19-24
        cm = np.array([m % io + 1, m // io + 1], dtype=float)
        cvec = e - 2 * s * d @ cm + s**2 * (cm**2).sum()
        vals, vecs = np.linalg.eig(np.linalg.inv(b + alpha * np.diag(cvec)) @ a)
        order = np.argsort(-vals.real)[:n_eig]
        for r, idx in enumerate(order):
            p = vecs[:, idx].real
            p = p / (np.abs(p).sum() if norm == "l1" else np.linalg.norm(p))  # line 25
            out[r, int(cm[0]) - 1, int(cm[1]) - 1] = p.reshape(j_sz, i_sz).T  # un-vec (column-major)
    return out


def random_features(seed=0, sizes=(50, 20, 35, 15)):
    """Unequal classes (the class average must be unweighted), class-dependent maps, channel-specific
    levels and scales (the normalisation must be per channel over the whole set)."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, q) for q, n in enumerate(sizes)])
    rng.shuffle(y)
    class_maps = rng.normal(size=(len(sizes), 1, H, W))
    level, scale = rng.uniform(-2, 5, size=(1, C, 1, 1)), rng.uniform(0.3, 4, size=(1, C, 1, 1))
    feats = (class_maps[y] + rng.normal(size=(len(y), C, H, W))) * scale + level
    return feats, y


def source(feats, y, batch=17):
    def batches():
        for i in range(0, len(y), batch):
            yield torch.as_tensor(feats[i : i + batch], dtype=torch.float32), torch.as_tensor(y[i : i + batch])

    return batches


def align_sign(p, ref):
    return p * np.sign((p * ref).sum(axis=(-1, -2), keepdims=True))


@pytest.mark.parametrize("alpha, norm", [(5.0, "l1"), (25.0, "l2"), (0.5, "l1")])
def test_fit_equals_the_papers_algorithm_1_up_to_sign(alpha, norm):
    feats, y = random_features()
    ref = reference_algorithm_1(feats.astype(np.float32).astype(np.float64), y, alpha, 2, 2, norm)
    p, meta = fit_lda_pooling(source(feats, y), 4, alpha=alpha, norm=norm, n_out=2, out_size=(3, 3))
    ours = p.reshape(2, 3, 3, H, W)
    assert np.allclose(align_sign(ours, ref), ref, atol=1e-6)
    assert meta["format"] == 2 and meta["images_per_class"] == [50, 20, 35, 15]
    assert np.allclose(meta["channel_mean"], feats.astype(np.float32).mean(axis=(0, 2, 3)), atol=1e-5)


def test_the_old_readings_are_named_options_and_differ():
    feats, y = random_features(1)
    ref = reference_algorithm_1(feats.astype(np.float32).astype(np.float64), y, 5.0, 2, 2, "l1")
    for kw in ({"centre": "block"}, {"normalization": "per-map"}):
        p, meta = fit_lda_pooling(source(feats, y), 4, alpha=5.0, n_out=2, out_size=(3, 3), **kw)
        assert not np.allclose(align_sign(p.reshape(2, 3, 3, H, W), ref), ref, atol=1e-3)
        assert meta[next(iter(kw))] == next(iter(kw.values()))


def test_penalty_is_distance_to_s_times_the_1_based_output_coordinate():
    c = penalty_diagonals((4, 4), (2, 2))
    # output (1, 1) is anchored at input (2, 2) (1-based): flat index 1 * 4 + 1 = 5 is free
    assert c[0, 5] == 0 and c[0, 0] == 2 and c[3, 15] == 0 and c[3, 0] == 18
    block = penalty_diagonals((4, 4), (2, 2), centre="block")
    assert np.allclose(block[0, [0, 1, 4, 5]], 0.5)
    with pytest.raises(ValueError, match="I / I'"):
        penalty_diagonals((4, 6), (2, 2))


def test_normalise_only_divides_by_the_norm():
    p = np.array([[-3.0, 1.0, 0.0], [2.0, -2.0, 1.0]])
    assert np.allclose(normalise(p, "l1"), p / np.abs(p).sum(1, keepdims=True))
    assert np.allclose(normalise(p, "l2"), p / np.linalg.norm(p, axis=1, keepdims=True))
    with pytest.raises(ValueError):
        normalise(p, "l3")


def test_singular_b_says_what_to_do_and_ridge_is_opt_in():
    feats, y = random_features(2, sizes=(3, 3))  # 6 images x 5 channels < 36 positions: B singular
    stats = ChannelStats()
    stats.update(torch.as_tensor(feats))
    acc = ScatterAccumulator(2, mean=stats.mean_var()[0], var=stats.mean_var()[1])
    acc.update(torch.as_tensor(feats), torch.as_tensor(y))
    a, b = (m.numpy() for m in acc.scatter())
    with pytest.raises(ValueError, match="ridge"):
        solve_pooling(a, b, (H, W), alpha=0.0)
    p, _ = solve_pooling(a, b, (H, W), alpha=0.0, ridge=1e-3)
    assert np.isfinite(p).all()


def test_at_most_max_per_class():
    feats, y = random_features()
    _, meta = fit_lda_pooling(source(feats, y), 4, alpha=5.0, max_per_class=12, out_size=(3, 3), n_out=2)
    assert meta["images_per_class"] == [12] * 4


def test_alpha_pulls_each_output_onto_its_anchor():
    feats, y = random_features(3)
    spreads = []
    for alpha in (0.01, 1.0, 1000.0):
        p, _ = fit_lda_pooling(source(feats, y), 4, alpha=alpha, n_out=1, out_size=(3, 3))
        c = penalty_diagonals((H, W), (3, 3))
        spreads.append(float((np.abs(p[0]) * c).sum(-1).mean()))
    assert spreads[2] < spreads[1] < spreads[0]


# ----------------------------------------------------------------------------- the module
def test_downsample_forward_is_the_papers_back_transform():
    rng = np.random.default_rng(4)
    p = torch.as_tensor(rng.normal(size=(2, 9, H * W)), dtype=torch.float32)
    mean, var = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0]), torch.tensor([2.0, 0.5, 1.0, 3.0, 0.1])
    mod = LDADownsample(p, (H, W), (3, 3), channel_mean=mean)
    x = torch.randn(3, C, H, W) * 2 + 1
    g = (x - mean.view(1, -1, 1, 1)) / var.sqrt().view(1, -1, 1, 1)  # Sec. 3.6 normalisation
    pooled = torch.einsum("kmn,bcn->bkcm", p, g.flatten(2))
    explicit = pooled * var.sqrt().view(1, 1, -1, 1) + mean.view(1, 1, -1, 1)  # x sqrt(v(c)) + fbar(c)
    assert torch.allclose(mod(x), explicit.reshape(3, 2 * C, 3, 3), atol=1e-4)
    # a sample's own level is not subtracted: shifting one image shifts only where p puts weight
    x2 = x.clone()
    x2[0, :, 0, 0] += 10
    diff = (mod(x2) - mod(x))[0].reshape(2, C, 9)
    assert torch.allclose(diff, 10 * p[:, None, :, 0].expand(2, C, 9), atol=1e-4)


def test_downsample_packing_and_a_known_p():
    ho, wo = H // 2, W // 2
    p = torch.zeros(2, ho * wo, H * W)
    for m in range(ho * wo):  # a delta on the bottom-right pixel of each block (sum p = 1: no shift)
        p[:, m, ((m // wo) * 2 + 1) * W + (m % wo) * 2 + 1] = 1.0
    mod = LDADownsample(p, (H, W), (ho, wo), channel_mean=torch.arange(C, dtype=torch.float32))
    x = torch.randn(3, C, H, W)
    assert torch.allclose(mod(x)[:, :C], x[:, :, 1::2, 1::2]) and torch.allclose(mod(x)[:, C:], x[:, :, 1::2, 1::2])
    other = LDADownsample(torch.rand(2, ho * wo, H * W), (H, W), (ho, wo), channel_mean=torch.ones(C))
    packed = mod.pack([mod, other])
    x2 = torch.randn(3, C, H, W)
    assert torch.allclose(packed(torch.cat([x, x2], 1)), torch.cat([mod(x), other(x2)], 1), atol=1e-5)
    assert mod.state_dict() == {}  # p comes from the weights file, not the checkpoint
    with pytest.raises(ValueError, match="fitted on 6x6"):
        mod(torch.randn(1, C, 8, 8))


def _weights(tmp_path, name, c, size, n_out=2):
    h, w = size
    p = np.random.default_rng(0).random((n_out, (h // 2) * (w // 2), h * w))
    return str(
        save_downsample_weights(
            tmp_path / name,
            p,
            {"size": [h, w], "out_size": [h // 2, w // 2], "channel_mean": [0.1] * c, "normalization": "per-channel"},
        )
    )


@pytest.mark.parametrize(
    "model_name, layer, c, size",
    [("cnn4", 3, 256, (8, 8)), ("preact_resnet18", 2, 128, (16, 16)), ("resnet20", 1, 16, (32, 32))],
)
def test_surgery_replaces_the_strided_entry(tmp_path, model_name, layer, c, size):
    from poolbench.models import create_model
    from poolbench.train.packing import pack_models, verify_pack

    path = _weights(tmp_path, "l.pt", c, size)
    torch.manual_seed(0)
    model = with_lda_downsampling(create_model(model_name, num_classes=10), layer, path)
    entry = model.stages[layer][0]
    assert isinstance(entry[0], LDADownsample)
    assert all(m.stride == (1, 1) for m in entry[1].modules() if isinstance(m, torch.nn.Conv2d))
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    torch.manual_seed(1)
    other = with_lda_downsampling(create_model(model_name, num_classes=10), layer, path).eval()
    packed = pack_models([model, other])
    verify_pack(packed, [model, other], torch.randn(2, 3, 32, 32))


def test_surgery_in_sequence_and_checks(tmp_path):
    from poolbench.models import create_model

    f3, f1 = _weights(tmp_path, "l3.pt", 256, (8, 8)), _weights(tmp_path, "l1.pt", 64, (32, 32))
    model = with_lda_downsampling(create_model("cnn4", num_classes=10), [3, 1], [f3, f1])
    assert isinstance(model.stages[3][0][0], LDADownsample) and isinstance(model.stages[1][0][0], LDADownsample)
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="one lda_weights file per layer"):
        with_lda_downsampling(create_model("cnn4", num_classes=10), [3, 1], [f3])
    with pytest.raises(ValueError, match="1..2"):
        check_lda_layer(create_model("resnet20", num_classes=10), 3)
    with pytest.raises(
        ValueError, match="fitted on 256 channels, this layer has 128"
    ):  # layer 3's weights at layer 2: the channels do not fit
        with_lda_downsampling(create_model("cnn4", num_classes=10), 2, f3)


def test_old_weights_files_are_refused(tmp_path):
    from poolbench.pools.lda import load_lda_weights

    path = tmp_path / "old.pt"
    torch.save({"p": torch.rand(2, 16, 64), "meta": {"kind": "downsample", "size": [8, 8]}}, path)
    with pytest.raises(ValueError, match="refit it with poolbench fit-lda"):
        load_lda_weights(path)


def test_sgd_learned_map_starts_as_average_pooling_and_trains():
    from poolbench.lda.learned import SGDDownsample, with_sgd_downsampling
    from poolbench.models import create_model

    mod = SGDDownsample((6, 6), (3, 3))
    x = torch.randn(2, C, 6, 6)
    avg = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(mod(x), torch.cat([avg, avg], 1), atol=1e-6) and mod.p.requires_grad
    model = with_sgd_downsampling(create_model("cnn4", num_classes=10), 2)
    assert isinstance(model.stages[2][0][0], SGDDownsample)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert model.stages[2][0][0].p.grad.abs().sum() > 0
