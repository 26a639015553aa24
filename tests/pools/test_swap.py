"""swap_pool on poolbench's own models and on the shapes of module it must handle or refuse. The
same function on real timm and torchvision models: tests/pools/test_swap_interop.py."""

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model
from poolbench.pools import create_pool, swap_pool
from poolbench.pools.catavgmax import CatAvgMaxPool
from poolbench.pools.gem import GeMPool
from poolbench.pools.swap import ReshapedPool


def _resnet(**kw):
    torch.manual_seed(0)
    return create_model("resnet20", num_classes=10, **kw)


def _one_sgd_step(model, x, y):
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = nn.functional.cross_entropy(model.train()(x), y)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    return loss, changed


def test_a_widening_pool_gets_a_fresh_classifier_of_its_width_and_trains():
    model = _resnet()
    old_fc = model.classifier
    assert swap_pool(model, "catavgmax") is model
    assert isinstance(model.pool, CatAvgMaxPool) and model.classifier is not old_fc
    assert (model.classifier.in_features, model.classifier.out_features) == (2 * model.num_features, 10)
    loss, changed = _one_sgd_step(model, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    assert torch.isfinite(loss) and {"head.fc.weight", "stem.0.weight"} <= changed


def test_a_pool_of_the_same_width_keeps_the_trained_classifier_and_takes_its_arguments():
    model = _resnet()
    fc = model.classifier
    swap_pool(model, "gem", p=2.0)
    assert isinstance(model.pool, GeMPool) and float(model.pool.p) == 2.0 and model.classifier is fc
    swap_pool(model, create_pool("max"))  # a ready module goes in as it is
    assert model.classifier is fc and model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_module_with_pool_arguments_is_refused():
    with pytest.raises(ValueError, match=r"pool arguments \['p'\] given with a ready module"):
        swap_pool(_resnet(), create_pool("gem"), p=2.0)


def test_no_pool_and_two_pools_are_refused_in_one_line_naming_the_model_and_what_was_found():
    plain = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(ValueError, match=r"^swap_pool: torch\.nn\.modules\.container\.Sequential has no global pool"):
        swap_pool(plain, "gem")
    pair = nn.ModuleList([_resnet(), _resnet()])
    with pytest.raises(ValueError, match=r"has 2 global pools \(0\.head\.pool, 1\.head\.pool\)") as err:
        swap_pool(pair, "gem")
    assert "\n" not in str(err.value)


class TwoByTwoHead(nn.Module):
    """A pool that keeps a 2x2 map, flattened by the forward into a Linear over 4*C (VGG's shape,
    small), with no num_features: the channels are read off the pool and the Linear."""

    def __init__(self, c=8):
        super().__init__()
        self.features = nn.Conv2d(3, c, 3, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(4 * c, 5))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def test_channels_read_off_the_old_pool_a_4d_slot_stays_4d_and_the_linear_inside_a_sequential_is_resized():
    model = TwoByTwoHead()
    swap_pool(model, "catavgmax")
    assert isinstance(model.avgpool, ReshapedPool) and model.avgpool.keepdim
    assert model.avgpool(torch.randn(2, 8, 5, 5)).shape == (2, 16, 1, 1)  # flatten(x, 1) still works
    assert model.avgpool.feat_mult() == 2 and model.avgpool.out_features(8) == 16
    assert model.classifier[1].in_features == 16 and model(torch.randn(2, 3, 9, 9)).shape == (2, 5)


class NormAfterPool(nn.Module):
    """A norm sized for C between the pool and the Linear (ConvNeXt's head, small)."""

    num_features = 8

    def __init__(self):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.Flatten()
        self.norm2 = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 3)


def test_a_width_change_before_a_module_that_cannot_be_resized_is_refused_and_changes_nothing():
    model = NormAfterPool()
    with pytest.raises(ValueError, match=r"norm2 \(LayerNorm\) reads avgpool's 8 features and cannot be resized"):
        swap_pool(model, "catavgmax")
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d) and model.fc.in_features == 8
    swap_pool(model, "gem")  # the same width goes in
    assert isinstance(model.avgpool.pool, GeMPool)
