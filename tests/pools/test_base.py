"""How wide a pool's output is: ``feat_mult()`` (called as timm calls it), ``out_features(C)`` and
``pooled_width``, which every classifier-sizing site asks."""

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model
from poolbench.pools import build_pool, list_pools, pooled_width
from poolbench.pools.base import GlobalPool
from poolbench.pools.check import check_pool


class UpperTriangle(GlobalPool):
    """C(C+1)/2 features (the upper triangle of the channels' second moment): a width that is no
    multiple of C, declared by ``out_features``; ``feat_mult()`` refuses, naming it."""

    def feat_mult(self) -> int:
        raise ValueError("UpperTriangle's width C(C+1)/2 is no multiple of C: ask out_features(C)")

    def out_features(self, in_channels: int) -> int:
        return in_channels * (in_channels + 1) // 2

    def forward(self, x):
        z = x.flatten(2)
        gram = z @ z.transpose(1, 2) / z.shape[-1]
        i, j = torch.triu_indices(x.shape[1], x.shape[1])
        return gram[:, i, j]


class OldStyleAttribute(GlobalPool):  # how pool files declared a widening before feat_mult() was a method
    feat_mult = 2

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)


class OldStyleProperty(GlobalPool):
    @property
    def feat_mult(self):
        return 3

    def forward(self, x):
        return x.mean((2, 3)).repeat(1, 3)


@pytest.mark.parametrize("name", list_pools())
def test_every_registered_pool_answers_feat_mult_as_timm_calls_it_and_declares_what_it_returns(name):
    pool = build_pool(name, channels=6).eval()
    if type(pool).out_features is GlobalPool.out_features:
        assert isinstance(pool.feat_mult(), int)  # timm: num_features * global_pool.feat_mult()
        assert pool.out_features(6) == pool.feat_mult() * 6 == pooled_width(pool, 6)
    else:  # a width that is no multiple of C (cov): feat_mult() refuses, naming out_features
        with pytest.raises(ValueError, match="out_features"):
            pool.feat_mult()
        assert pool.out_features(6) == pooled_width(pool, 6)
    with torch.no_grad():
        assert pool(torch.randn(2, 6, 4, 4)).shape == (2, pool.out_features(6))


def test_a_widening_pool_sizes_a_timm_style_classifier():
    pool = build_pool("catavgmax", channels=64)
    fc = nn.Linear(64 * pool.feat_mult(), 10)  # what timm's create_classifier / ClassifierHead.reset build
    assert fc(pool(torch.randn(2, 64, 4, 4))).shape == (2, 10)


@pytest.mark.parametrize("cls, k", [(OldStyleAttribute, 2), (OldStyleProperty, 3)])
def test_the_attribute_form_of_older_pool_files_still_sizes_the_model_and_is_callable(cls, k):
    assert cls().feat_mult() == k and pooled_width(cls(), 5) == 5 * k
    model = create_model("resnet20", num_classes=10, pool=cls).eval()
    assert model.classifier.in_features == k * model.num_features
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_pooled_width_of_modules_that_are_not_poolbench_pools():
    class IntAttribute(nn.Module):
        feat_mult = 2

    assert pooled_width(nn.AdaptiveMaxPool2d(1), 7) == 7
    assert pooled_width(IntAttribute(), 7) == 14


def test_a_width_that_is_no_multiple_of_c_sizes_the_head_by_out_features_and_passes_the_shape_check():
    model = create_model("resnet20", num_classes=10, pool=UpperTriangle).eval()
    c = model.num_features
    assert model.classifier.in_features == c * (c + 1) // 2
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="out_features"):
        UpperTriangle().feat_mult()
    shape = {r.name: r for r in check_pool(UpperTriangle, compile=False, onnx=False, channels=(8,)).checks}["shape C=8"]
    assert shape.ok, shape.detail
