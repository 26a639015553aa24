"""GeM (Radenovic, Tolias & Chum, TPAMI 2018, Eq. 1): the per-channel exponent starts at init_p
however the pool is sized, and the pool equals (mean_s x_s^p)^(1/p) written out."""

import pytest
import torch

from poolbench.pools import build_pool, create_pool


@pytest.mark.parametrize("p", [3.0, 2.5])
def test_gem_channel_sized_on_its_first_input_starts_at_init_p(p):
    lazy = create_pool("gem_channel", p=p)  # channels unknown: sized by the first input
    x = torch.rand(2, 6, 4, 4) + 0.1
    y = lazy(x)
    assert torch.equal(lazy.p.detach(), torch.full((6,), p))
    told = build_pool("gem_channel", channels=6, p=p)  # the same pool, told its channels
    assert torch.equal(told.p.detach(), lazy.p.detach()) and torch.allclose(y, told(x))
    assert torch.allclose(y, x.pow(p).mean((2, 3)).pow(1 / p), rtol=1e-5)
