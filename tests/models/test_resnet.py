"""The CIFAR ResNets' initialisation against their reference's statistics.

akamaster/pytorch_resnet_cifar10 (``resnet.py``, ``_weights_init``), which the FlexPooling authors'
ResNets reuse, applies ``init.kaiming_normal_(m.weight)`` to every Conv2d and Linear: mode fan_in,
nonlinearity leaky_relu with a = 0, so std = sqrt(2 / fan_in); biases and BatchNorm keep PyTorch's
defaults (a Linear bias is U(-1/sqrt(in_features), 1/sqrt(in_features)); BatchNorm 1 and 0). The
expected values below are computed from the layer shapes, not by the module under test.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from poolbench.models import create_model
from poolbench.models.aux import with_aux_classifiers


def fan_in_std(weight: torch.Tensor) -> float:
    return math.sqrt(2.0 / (weight.shape[1] * weight[0, 0].numel()))


def fan_out_std(weight: torch.Tensor) -> float:
    return math.sqrt(2.0 / (weight.shape[0] * weight[0, 0].numel()))


def assert_std(weight: torch.Tensor, want: float, tol: float) -> None:
    got = float(weight.detach().std())
    assert abs(got / want - 1) < tol, (tuple(weight.shape), got, want)
    assert abs(float(weight.detach().mean())) < 4 * want / math.sqrt(weight.numel())


@pytest.mark.parametrize("name", ["resnet20", "resnet32"])
def test_convolutions_and_classifier_follow_the_reference(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == int(name[6:]) - 1  # every conv of the trunk (the last layer is the Linear)
    for conv in convs:  # >= 432 weights each: a 15% band is > 4 standard errors of the std
        assert_std(conv.weight, fan_in_std(conv.weight), 0.15)
    stem = convs[0].weight  # 3 -> 16 channels: fan_in 27, fan_out 144, told apart by a factor 2.3
    assert abs(float(stem.detach().std()) / fan_out_std(stem) - 1) > 0.5
    fc = model.classifier
    assert_std(fc.weight, math.sqrt(2.0 / 64), 0.15)  # not normal(0, 0.01)
    bound = 1 / math.sqrt(64)  # nn.Linear's bias, left as PyTorch makes it
    assert fc.bias.abs().max() <= bound and fc.bias.abs().max() > 0 and len(set(fc.bias.tolist())) == 10
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_a_widened_head_a_reset_head_and_auxiliary_heads_use_the_reference_too():
    torch.manual_seed(1)
    model = create_model("resnet20", num_classes=10, pool="catavgmax")  # feat_mult 2: 128 features
    assert_std(model.classifier.weight, math.sqrt(2.0 / 128), 0.15)
    model.reset_head(num_classes=100)
    assert_std(model.classifier.weight, math.sqrt(2.0 / 128), 0.1)
    sac = with_aux_classifiers(create_model("resnet20", num_classes=10, pool="avg"))
    for head, width in zip(sac.aux_heads, (16, 32), strict=True):  # the FlexPoolU code's linear1, linear2
        assert_std(head.fc.weight, math.sqrt(2.0 / width), 0.3)
        assert head.fc.bias.abs().max() <= 1 / math.sqrt(width) and head.fc.bias.abs().max() > 0


def test_a_rebuilt_stage_entry_follows_the_reference():
    model = create_model("resnet20", num_classes=10)
    block = model.entry_block(16, 32, 2)  # conv1: fan_in 144, fan_out 288
    assert_std(block.conv1.weight, fan_in_std(block.conv1.weight), 0.15)


def test_the_older_initialisation_is_kept_for_the_runs_made_with_it():
    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=10, init="torchvision")
    stem = model.stem[0].weight
    assert_std(stem, fan_out_std(stem), 0.15)
    assert torch.all(model.classifier.bias == 0) and 0.008 < float(model.classifier.weight.detach().std()) < 0.012
    with pytest.raises(ValueError, match="unknown initialisation 'xavier'; valid: torchvision, kaiming_fan_in"):
        create_model("resnet20", num_classes=10, init="xavier")
