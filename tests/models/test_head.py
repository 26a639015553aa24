"""The head API (timm's idiom): forward_head(pre_logits), reset_head, get_classifier, read-only views."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model
from poolbench.pools.catavgmax import CatAvgMaxPool
from poolbench.pools.gem import GeMPool


def _resnet(pool="avg", **kw):
    return create_model("resnet20", num_classes=10, pool=pool, **kw)


def test_reset_head_pool_swap_widens_a_fresh_classifier_and_keeps_one_pool():
    model = _resnet("gem")
    old_fc = model.classifier
    model.reset_head(pool=CatAvgMaxPool)  # feat_mult() 2: [avg, max] per channel
    assert isinstance(model.pool, CatAvgMaxPool) and model.head.pooled_features == 2 * model.num_features
    assert model.classifier is not old_fc and model.get_classifier() is model.head.fc
    assert (model.classifier.in_features, model.classifier.out_features) == (2 * model.num_features, 10)
    # initialised as the model's scheme says (the ResNets' reference: Kaiming fan_in, N(0, 2/128))
    assert 0.1 < model.classifier.weight.std() < 0.15 and model.classifier.bias.abs().max() <= 128**-0.5
    keys = list(model.state_dict())
    assert not [k for k in keys if "pool" in k]  # the old GeM's p is gone, the new pool has no tensors
    assert [k for k in keys if k.startswith("head.")] == ["head.fc.weight", "head.fc.bias"]
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)

    model.reset_head(pool="gem")  # back to a pool with a parameter: it appears once, under the head
    assert [k for k in model.state_dict() if "pool" in k] == ["head.pool.p"]
    assert model.classifier.in_features == model.num_features


def test_reset_head_num_classes_keeps_the_pool_and_pool_args_alone_rebuild_its_class():
    model = _resnet("gem")
    pool = model.pool
    model.reset_head(num_classes=5)
    assert model.pool is pool and model.classifier.out_features == 5 and model.num_classes == 5
    model.reset_head(pool_args={"p": 4.0})
    assert type(model.pool) is GeMPool and model.pool is not pool and float(model.pool.p.detach()) == 4.0
    assert model.classifier.out_features == 5  # the number of classes is kept


def test_forward_head_pre_logits_is_the_pooled_features_the_classifier_reads():
    model = _resnet(CatAvgMaxPool, drop_rate=0.5).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre = model.forward_head(feats, pre_logits=True)
        assert pre.shape == (3, 2 * model.num_features)
        assert torch.equal(pre, model.pool(feats).flatten(1))
        assert torch.allclose(model.forward_head(feats), model.classifier(pre))
        assert torch.allclose(model(x), model.classifier(pre))


def test_assigning_a_read_only_view_raises_and_adds_nothing():
    model = _resnet()
    before = list(model.state_dict())
    for name, value in (("pool", nn.AdaptiveMaxPool2d(1)), ("classifier", nn.Linear(64, 3))):
        with pytest.raises(AttributeError, match="reset_head"):
            setattr(model, name, value)
    assert list(model.state_dict()) == before and "pool" not in model._modules
    model.extra = nn.Identity()  # ordinary attributes are untouched
    assert "extra" in model._modules
