"""poolbench pools in real timm and torchvision models, and timm pools in poolbench models.

Marked ``interop``: ``make test-interop`` runs them in ``.venv-interop`` (torch, torchvision and
timm from requirements/interop.txt). In the main environment the pinned CPU torch cannot load
torchvision's compiled ops (and timm imports torchvision), so they skip there, saying so.
"""

import importlib

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model
from poolbench.pools import pooled_width, swap_pool
from poolbench.pools.catavgmax import CatAvgMaxPool
from poolbench.pools.swap import ReshapedPool

from .test_base import UpperTriangle
from .test_swap import _one_sgd_step

pytestmark = pytest.mark.interop


def _import(name):
    try:
        return importlib.import_module(name)
    except Exception as e:  # torchvision beside the CPU torch pin raises RuntimeError, not ImportError
        pytest.skip(
            f"{name} cannot be imported here ({type(e).__name__}: {str(e).splitlines()[0]}); "
            f"`make test-interop` runs these in .venv-interop",
            allow_module_level=True,
        )


timm = _import("timm")
torchvision = _import("torchvision")


def timm_resnet18():
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=10)


def torchvision_resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10)


def _pool_and_linear(model):
    if hasattr(model, "avgpool"):  # torchvision: the pool is wrapped to keep its [B, C, 1, 1] output
        assert isinstance(model.avgpool, ReshapedPool) and model.avgpool.keepdim
        return model.avgpool.pool, model.fc
    return model.global_pool, model.fc


@pytest.mark.parametrize("build", [timm_resnet18, torchvision_resnet18])
@pytest.mark.parametrize(
    "pool, width",
    [
        ("catavgmax", 2 * 512),  # k*C
        ("cov", 64 * 65 // 2),  # iSQRT-COV's upper triangle, reduced to d = 64: no multiple of C
        ("netvlad", 8 * 512),  # K*C, K = 8 clusters
        (UpperTriangle, 512 * 513 // 2),  # out_features on an unregistered pool class
    ],
    ids=["catavgmax", "cov", "netvlad", "upper_triangle"],
)
def test_a_real_resnet_takes_a_width_changing_pool_and_trains_one_step(build, pool, width):
    model = build()
    old_fc = model.fc
    swap_pool(model, pool)
    new_pool, fc = _pool_and_linear(model)
    assert fc is not old_fc and (fc.in_features, fc.out_features) == (width, 10)
    assert pooled_width(new_pool, 512) == width
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([3, 7])
    loss, changed = _one_sgd_step(model, x, y)
    assert torch.isfinite(loss)
    assert {"fc.weight", "conv1.weight"} <= changed  # the new classifier and the trunk both trained
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 10)


@pytest.mark.parametrize("build", [timm_resnet18, torchvision_resnet18])
def test_a_same_width_pool_keeps_the_real_classifier(build):
    model = build()
    fc = model.fc
    swap_pool(model, "gem", p=3.0)
    assert model.fc is fc and float(_pool_and_linear(model)[0].p.detach()) == 3.0
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_timm_reset_classifier_sizes_its_head_by_a_poolbench_pool():
    """RegNet's reset_classifier keeps its pool and calls ``global_pool.feat_mult()`` (ClassifierHead.reset)."""
    torch.manual_seed(0)
    model = timm.create_model("regnetx_002", pretrained=False, num_classes=10)
    swap_pool(model, "catavgmax")
    assert isinstance(model.head.global_pool, CatAvgMaxPool)
    model.reset_classifier(5)
    assert model.get_classifier().in_features == 2 * model.num_features
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    # cov's width is no multiple of C: swap_pool sizes the head by out_features, and timm's
    # reset_classifier, which can only multiply, is told so instead of building a wrong Linear
    swap_pool(model, "cov")
    assert model.get_classifier().in_features == 64 * 65 // 2
    with pytest.raises(ValueError, match="out_features"):
        model.reset_classifier(5)


@pytest.mark.parametrize(
    "make_pool, width",
    [
        (lambda c: timm.layers.SelectAdaptivePool2d(pool_type="catavgmax", flatten=True), 2 * 64),
        (lambda c: timm.layers.SelectAdaptivePool2d(pool_type="max", flatten=False), 64),  # [B, C, 1, 1]
        (lambda c: timm.layers.SimPool2d(dim=c), 64),
        (lambda c: timm.layers.LsePlus2d(), 64),
    ],
    ids=["SelectAdaptivePool2d-catavgmax", "SelectAdaptivePool2d-max-4d", "SimPool2d", "LsePlus2d"],
)
def test_a_timm_pool_goes_into_a_poolbench_model(make_pool, width):
    model = create_model("resnet20", num_classes=10, pool=make_pool(64))
    assert model.classifier.in_features == width
    loss, changed = _one_sgd_step(model, torch.randn(2, 3, 32, 32), torch.tensor([1, 2]))
    assert torch.isfinite(loss) and "head.fc.weight" in changed


def test_a_timm_pool_swapped_into_a_torchvision_model():
    model = torchvision_resnet18()
    swap_pool(model, timm.layers.SelectAdaptivePool2d(pool_type="catavgmax", flatten=True))
    assert model.fc.in_features == 1024
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_the_heads_pool_is_swapped_not_a_blocks():
    """torchvision's EfficientNet has an ``avgpool`` in every squeeze-excitation block and one at the head."""
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b0(num_classes=10)
    se_pool = model.features[1][0].block[1].avgpool
    swap_pool(model, "catavgmax")
    assert isinstance(model.avgpool.pool, CatAvgMaxPool) and model.features[1][0].block[1].avgpool is se_pool
    assert model.classifier[1].in_features == 2 * 1280
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize(
    "build, norm",
    [
        (lambda: timm.create_model("convnext_atto", pretrained=False, num_classes=10), "head.norm"),
        (lambda: torchvision.models.convnext_tiny(num_classes=10), "classifier.0"),  # no num_features here
    ],
    ids=["timm-convnext_atto", "torchvision-convnext_tiny"],
)
def test_a_norm_after_the_pool_takes_a_pool_of_its_width_and_refuses_another(build, norm):
    torch.manual_seed(0)
    model = build()
    with pytest.raises(ValueError, match=rf"{norm} \(LayerNorm2d\) reads .* cannot be resized; the new pool returns"):
        swap_pool(model, "catavgmax")
    swap_pool(model, "gem")
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_real_models_without_a_pool_module_or_with_two_are_refused():
    # torchvision's MobileNetV2 pools with a function in its forward: nothing to swap
    with pytest.raises(
        ValueError, match=r"^swap_pool: torchvision\.models\.mobilenetv2\.MobileNetV2 has no global pool"
    ):
        swap_pool(torchvision.models.mobilenet_v2(num_classes=10), "gem")
    pair = nn.ModuleList([torchvision_resnet18(), timm_resnet18()])
    with pytest.raises(ValueError, match=r"has 2 global pools \(0\.avgpool, 1\.global_pool\)"):
        swap_pool(pair, "gem")
