"""The model zoo: parameter counts, final map sizes, the head's width, and packing-friendliness.

The pools here are tiny local classes (not registered), so these tests do not depend on the pool
library.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model, list_models
from poolbench.models.head import ClassifierHead
from poolbench.models.resnet import PadShortcut
from poolbench.pools.base import GlobalPool


class MeanPool(GlobalPool):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x.mean((2, 3))


class MeanMaxPool(GlobalPool):
    """feat_mult() 2: widens the classifier input to 2C."""

    def feat_mult(self):
        return 2

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)


class ChannelScalePool(GlobalPool):
    """Has per-channel parameters (gets ``channels``) and a conv the model init must not touch."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)
        nn.init.constant_(self.conv.weight, 0.5)

    def forward(self, x):
        w = torch.softmax(self.conv(x).flatten(2), -1)  # [B, 1, HW]
        return (x.flatten(2) * w).sum(-1)


# name: (params with a 10-class Linear head, trunk params, final map, C). Published references:
# He et al. 2016 Table 6 (0.27M resnet20, 0.46M resnet32, 0.66M resnet44, 0.85M resnet56, 1.7M
# resnet110; our exact counts equal akamaster/pytorch_resnet_cifar10's); torchvision vgg16_bn
# features = 14,723,136; torchvision mobilenet_v2 minus its 1000-class Linear = 2,223,872.
EXPECTED = {
    "resnet20": (269_722, 269_072, 8, 64),
    "resnet32": (464_154, 463_504, 8, 64),
    "resnet44": (658_586, 657_936, 8, 64),
    "resnet56": (853_018, 852_368, 8, 64),
    "resnet110": (1_727_962, 1_727_312, 8, 64),
    "vgg16_bn": (14_728_266, 14_723_136, 1, 512),
    "mobilenetv2": (2_236_682, 2_223_872, 1, 1280),
    # the spatial variants: the same layers (so the same counts), a wider final map
    "vgg16_bn_s2": (14_728_266, 14_723_136, 2, 512),
    "mobilenetv2_s4": (2_236_682, 2_223_872, 4, 1280),
}
ALLOWED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.Dropout, nn.Identity, PadShortcut)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_registry_lists_every_model():
    assert set(EXPECTED) <= set(list_models())
    assert list_models("resnet*") == ["resnet110", "resnet20", "resnet32", "resnet44", "resnet56"]


def test_spatial_variants_change_only_strides():
    """mobilenetv2_s4: the stem and the 24-channel row's first block at stride 1 (kuangliu's CIFAR
    strides), every other stride the paper's; vgg16_bn_s2: one 2x2 max-pool fewer."""

    def strides(model):
        return [m.stride for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride != (1, 1)]

    def maxpools(model):
        return sum(isinstance(m, nn.MaxPool2d) for m in model.modules())

    standard, cifar = create_model("mobilenetv2", num_classes=10), create_model("mobilenetv2_s4", num_classes=10)
    assert len(strides(standard)) == 5 and len(strides(cifar)) == 3
    assert cifar.stem[0].stride == (1, 1) and standard.stem[0].stride == (2, 2)
    widths = [m.out_channels for m in cifar.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert widths == [24 * 6, 32 * 6, 96 * 6]  # depthwise convs opening the 32, 64 and 160 rows (input x 6)
    assert maxpools(create_model("vgg16_bn", num_classes=10)) == 5
    assert maxpools(create_model("vgg16_bn_s2", num_classes=10)) == 4


@pytest.mark.parametrize(
    "name",  # the deep ResNets build in 3-13 s on 2 cores: slow
    [
        pytest.param(n, marks=pytest.mark.slow) if n in ("resnet32", "resnet44", "resnet110") else n
        for n in sorted(EXPECTED)
    ],
)
def test_param_counts_and_final_map(name):
    total, trunk, side, channels = EXPECTED[name]
    model = create_model(name, num_classes=10, in_chans=3, pool=MeanPool).eval()
    assert n_params(model) == total
    assert n_params(model) - n_params(model.head) == trunk
    assert model.num_features == channels == model.stage_channels[-1]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stages = model.forward_stages(x)
        feats = model.forward_features(x)
        assert feats.shape == (2, channels, side, side)
        assert torch.equal(stages[-1], feats)
        assert [s.shape[1] for s in stages] == model.stage_channels
        assert torch.allclose(model(x), model.forward_head(feats))
    assert model.classifier.in_features == channels and model.classifier.out_features == 10


def test_published_sizes_roughly():
    millions = {n: EXPECTED[n][0] / 1e6 for n in EXPECTED}
    assert round(millions["resnet20"], 2) == 0.27 and round(millions["resnet56"], 2) == 0.85
    assert round(EXPECTED["vgg16_bn"][1] / 1e6, 1) == 14.7 and round(EXPECTED["mobilenetv2"][1] / 1e6, 1) == 2.2


@pytest.mark.parametrize("name", ["resnet20", "vgg16_bn", "mobilenetv2"])
def test_feat_mult_widens_classifier(name):
    model = create_model(name, num_classes=7, pool=MeanMaxPool).eval()
    assert model.classifier.in_features == 2 * model.num_features
    with torch.no_grad():
        assert model(torch.randn(3, 3, 32, 32)).shape == (3, 7)


@pytest.mark.parametrize("name", ["resnet20", "vgg16_bn", "mobilenetv2", "vgg16_bn_s2", "mobilenetv2_s4"])
def test_in_chans_1(name):
    model = create_model(name, num_classes=10, in_chans=1, pool=MeanPool).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    # only the first conv changes: 3x3 kernels times the first conv's width, one input channel fewer
    first_width = {"resnet20": 16, "vgg16_bn": 64, "mobilenetv2": 32, "vgg16_bn_s2": 64, "mobilenetv2_s4": 32}[name]
    assert EXPECTED[name][0] - n_params(model) == 2 * 9 * first_width


def test_pool_gets_channels_and_keeps_its_init():
    model = create_model("resnet20", num_classes=10, pool=ChannelScalePool)
    assert model.pool.conv.in_channels == 64
    assert torch.all(model.pool.conv.weight == 0.5)  # init_trunk did not touch the pool


def test_init_and_drop_rate():
    model = create_model("cnn4", num_classes=10, pool=MeanPool, drop_rate=0.3)  # the torchvision scheme
    assert model.head.drop.p == 0.3
    assert torch.all(model.classifier.bias == 0) and 0.005 < model.classifier.weight.std() < 0.02
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    with pytest.raises(TypeError):
        create_model("resnet20", num_classes=10, pool=MeanPool, no_such_arg=1)


def test_reset_head_replaces_the_heads_pool():
    model = create_model("resnet20", num_classes=10, pool=MeanPool)
    new = MeanPool()
    model.reset_head(pool=new)
    assert model.head.pool is new and model.pool is new
    assert "pool" not in model._modules  # no stray second copy in the state dict


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_only_packable_modules(name):
    """The packer walks the tree: every leaf must be a standard layer, the shortcut, or the pool."""
    model = create_model(name, num_classes=10, pool=MeanPool)
    for mod_name, mod in model.named_modules():
        if next(mod.children(), None) is None and not mod_name.startswith("head.pool"):
            assert isinstance(mod, ALLOWED), f"{mod_name}: {type(mod).__name__}"


def test_head_accepts_a_plain_module_pool():
    head = ClassifierHead(64, 10, pool=nn.AdaptiveMaxPool2d(1))
    assert head(torch.randn(2, 64, 8, 8)).shape == (2, 10)
