"""The pool registry: names, wildcards, factories, unknown names, channels passed only when taken."""

import re
import sys

import pytest
import torch
import torch.nn as nn

from poolbench.pools import GlobalPool, build_pool, create_pool, get_pool_class, list_pools

EXPECTED = {
    "avg",
    "max",
    "avgmax",
    "avgmax_half",
    "catavgmax",
    "gem",
    "gem_channel",
    "lse",
    "softpool",
    "mixed",
    "avgmax_gated",
    "topk",
    "stochastic",
    "attn",
    "flex",
    "lda",
}


def test_every_expected_pool_is_registered():
    assert set(list_pools()) >= EXPECTED


def test_wildcards():
    assert list_pools("gem*")[:2] == ["gem", "gem_channel"]
    assert list_pools("avg*") == ["avg", "avgmax", "avgmax_gated", "avgmax_half"]
    assert list_pools("nothing*") == []


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown pool 'gemm'.*valid names: .*gem, gem_channel"):
        create_pool("gemm")


def test_create_by_name_and_class_with_kwargs():
    assert create_pool("gem", p=2.0).p.item() == 2.0
    assert isinstance(create_pool(get_pool_class("topk"), k=3), GlobalPool)


def test_every_pool_is_a_globalpool_whose_file_cites_its_source():
    for name in EXPECTED:
        cls = get_pool_class(name)
        assert issubclass(cls, GlobalPool) and cls.__doc__, name
        assert re.search(r"Sources?:|arXiv:", sys.modules[cls.__module__].__doc__ or ""), name


def test_build_pool_passes_channels_only_to_pools_that_take_it():
    assert build_pool("gem_channel", channels=12).p.shape == (12,)
    assert build_pool("mixed", channels=5).logit.shape == (5,)
    assert isinstance(build_pool("avg", channels=12), GlobalPool)  # no channels kwarg: not passed

    class Plain(nn.Module):  # a user pool with no __init__ of its own
        def forward(self, x):
            return x.mean((2, 3))

    assert isinstance(build_pool(Plain, channels=8), Plain)
    ready = create_pool("max")
    assert build_pool(ready, channels=3) is ready


def test_lazily_sized_pool_loads_a_trained_state_and_keeps_its_parameter_object():
    trained = build_pool("gem_channel", channels=4)
    with torch.no_grad():
        trained.p.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    fresh = create_pool("gem_channel")  # channels unknown: empty until the first input or a load
    param = fresh.p
    fresh.load_state_dict(trained.state_dict())
    assert fresh.p is param and torch.equal(fresh.p, trained.p)
    lazy = create_pool("gem_channel")
    opt_param = lazy.p
    lazy(torch.rand(2, 6, 3, 3))
    assert lazy.p is opt_param and lazy.p.shape == (6,)


def test_an_optimizer_or_compile_made_before_the_first_input_sees_the_sized_weights():
    pool = create_pool("flex")
    opt = torch.optim.SGD(pool.parameters(), lr=1.0, momentum=0.9)
    compiled = torch.compile(pool, backend="aot_eager")
    x = torch.rand(2, 3, 7, 5)
    out = compiled(x)
    assert pool.logits.shape == (3, 7, 5) and torch.allclose(out, x.mean((2, 3)), atol=1e-6)
    (out * torch.arange(3.0)).sum().backward()
    opt.step()
    assert pool.logits.abs().sum() > 0  # the optimizer's parameter is the sized one


def test_a_renamed_pool_keeps_its_old_name_as_an_alias():
    from poolbench.pools import canonical_pool_name, is_pool
    from poolbench.train.label import pool_label

    assert isinstance(create_pool("gated"), get_pool_class("avgmax_gated"))  # an old run's name still builds
    assert is_pool("gated") and "gated" not in list_pools() and canonical_pool_name("gated") == "avgmax_gated"
    assert pool_label({"pool": "gated"}) == pool_label({"pool": "avgmax_gated"}) == "avgmax_gated"


def test_an_alias_cannot_take_a_registered_name():
    from poolbench.registry import Registry

    reg = Registry("pool")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="'a' is registered twice"):
        reg.register("b", aliases=("a",))(lambda: 2)
    reg.register("c", aliases=("old",))(lambda: 3)
    with pytest.raises(ValueError, match="'old' is registered twice"):
        reg.register("old")(lambda: 4)
