"""cov against iSQRT-COV written from the paper (Li et al., CVPR 2018, Eq. 1-5), per sample in
float64, and its Newton-Schulz root against the eigendecomposition's square root."""

import pytest
import torch

from poolbench.pools import build_pool, pooled_width
from poolbench.pools.check import check_pool

from .reference import assert_matches_reference, perturb


def isqrt_cov_reference(x, w, iterations, eps, reduce=True):
    out = []
    for i in range(x.shape[0]):
        z = x[i].reshape(x.shape[1], -1)  # [C, N]
        if reduce:
            z = w["reduce.0.weight"][:, :, 0, 0] @ z  # the 1x1 convolution
        n = z.shape[1]
        i_bar = (torch.eye(n, dtype=z.dtype) - torch.ones(n, n, dtype=z.dtype) / n) / n
        s = z @ i_bar @ z.T  # Eq. 1
        trace = torch.trace(s) + eps
        y, zz = s / trace, torch.eye(s.shape[0], dtype=z.dtype)  # Eq. 4
        for _ in range(iterations):  # Eq. 2-3
            t = 0.5 * (3 * torch.eye(s.shape[0], dtype=z.dtype) - zz @ y)
            y, zz = y @ t, t @ zz
        c = torch.sqrt(trace) * y  # Eq. 5
        d = c.shape[0]
        out.append(torch.stack([c[r, k] for r in range(d) for k in range(r, d)]))
    return torch.stack(out)


@pytest.mark.parametrize("kwargs", [{"dim": 5}, {"dim": 4, "iterations": 3}, {"reduce": False}])
@pytest.mark.parametrize("hw", [(3, 4), (2, 2), (1, 1)])
def test_cov_equals_isqrt_cov(kwargs, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool("cov", channels=6, **kwargs))
    x = torch.randn(3, 6, *hw)
    ref = lambda x, w: isqrt_cov_reference(  # noqa: E731
        x, w, kwargs.get("iterations", 5), 1e-5, kwargs.get("reduce", True)
    )
    assert_matches_reference(pool, ref, x)
    d = kwargs.get("dim", 6)
    assert pool(x).shape[1] == pooled_width(pool, 6) == d * (d + 1) // 2


def test_the_newton_schulz_root_converges_to_the_matrix_square_root():
    from poolbench.pools.cov import covariance, newton_schulz_sqrt

    z = torch.randn(2, 5, 40, dtype=torch.float64)
    s = covariance(z)
    vals, vecs = torch.linalg.eigh(s)
    root = vecs @ torch.diag_embed(vals.sqrt()) @ vecs.transpose(1, 2)
    assert torch.allclose(newton_schulz_sqrt(s, 30, 0.0), root, atol=1e-8)


def test_cov_is_finite_and_zero_on_a_1x1_map_where_the_covariance_is_zero():
    pool = build_pool("cov", channels=8, dim=4)
    x = torch.rand(3, 8, 1, 1, requires_grad=True)
    y = pool(x)
    assert torch.equal(y, torch.zeros(3, 10))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_cov_declares_its_width_and_feat_mult_refuses():
    pool = build_pool("cov", channels=64)
    assert pool.out_features(64) == 2080
    with pytest.raises(ValueError, match="out_features"):
        pool.feat_mult()


def test_the_authors_bn_relu_block_fails_the_contract_on_the_reasons_the_docstring_gives():
    report = check_pool("cov", channels=(64,), compile=False, onnx=False, pool_args={"bn_relu": True})
    rows = {r.name: r for r in report.rows}
    assert "Expected more than 1 value per channel" in rows["shape C=64"].detail
    assert "the same for 4 different inputs on 8x8" in rows["information"].detail


def test_a_model_sizes_its_classifier_from_covs_width():
    from poolbench.models import create_model

    model = create_model("resnet20", num_classes=10, in_chans=3, pool="cov")
    assert model.classifier.in_features == 2080
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
