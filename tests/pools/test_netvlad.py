"""netvlad against Arandjelovic et al., CVPR 2016, Eq. 4 with intra- and L2 normalisation, per sample."""

import pytest
import torch

from poolbench.pools import build_pool, pooled_width

from .reference import assert_matches_reference, map_positions, perturb, softmax


def netvlad_reference(x, w, normalize_input=True):
    out = []
    centres = w["centroids"]
    for i in range(x.shape[0]):
        xs = map_positions(x, i)  # [N, C]
        if normalize_input:
            xs = xs / torch.sqrt((xs**2).sum(1, keepdim=True))
        a = softmax(xs @ w["assign.weight"].T + w["assign.bias"])  # [N, K]
        blocks = []
        for k in range(centres.shape[0]):
            v = sum(a[n, k] * (xs[n] - centres[k]) for n in range(xs.shape[0]))  # Eq. 4
            blocks.append(v / torch.sqrt((v**2).sum()))  # intra-normalisation
        v = torch.cat(blocks)
        out.append(v / torch.sqrt((v**2).sum()))
    return torch.stack(out)


@pytest.mark.parametrize("normalize_input", [True, False])
@pytest.mark.parametrize("hw", [(3, 4), (1, 1)])
def test_netvlad_equals_eq_4_with_its_normalisations(normalize_input, hw):
    torch.manual_seed(0)
    pool = perturb(build_pool("netvlad", channels=6, clusters=3, normalize_input=normalize_input))
    x = torch.rand(2, 6, *hw) + 0.1
    assert_matches_reference(pool, lambda x, w: netvlad_reference(x, w, normalize_input), x)
    assert pool(x).shape == (2, pooled_width(pool, 6)) == (2, 3 * 6) and pool.feat_mult() == 3


def test_set_centroids_couples_the_assignment_as_the_paper_derives_it():
    pool = build_pool("netvlad", channels=4, clusters=2)
    c = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    pool.set_centroids(c, alpha=10.0)
    x = torch.tensor([0.9, 0.1, 0, 0])
    # w_k^T x + b_k = -alpha ||x - c_k||^2 + alpha ||x||^2: the nearer centre gets the larger logit
    logits = pool.assign(x)
    expected = -10.0 * ((x - c) ** 2).sum(1) + 10.0 * (x**2).sum()
    assert torch.allclose(logits, expected)
