"""cnn4 and preact_resnet18 (Birodkar et al. 2019's models): layout, parameter counts, stage convention."""

from __future__ import annotations

import pytest
import torch

from poolbench.models import create_model


def conv(i, o, k=3, bias=False):
    return i * o * k * k + (o if bias else 0)


def test_cnn4_is_conv64_relu_then_three_strided_conv_bn_relu():
    m = create_model("cnn4", num_classes=10)
    expected = conv(3, 64, bias=True) + sum(conv(c, 2 * c) + 2 * 2 * c for c in (64, 128, 256)) + 512 * 10 + 10
    assert sum(p.numel() for p in m.parameters()) == expected == 1_557_002
    first = m.stages[0]
    assert [type(x).__name__ for x in first] == ["Conv2d", "ReLU"]  # no BN after the first conv (Sec. 6.3)
    strided = [x for s in m.stages[1:] for x in s.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.stride for c in strided] == [(2, 2)] * 3
    shapes = [t.shape[1:] for t in m.forward_stages(torch.randn(2, 3, 32, 32))]
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]


def test_preact_resnet18_counts_as_kuangliu():
    m = create_model("preact_resnet18", num_classes=10)

    def block(i, o):  # bn1(i) conv(i,o) bn2(o) conv(o,o) [+ 1x1 shortcut]
        return 2 * i + conv(i, o) + 2 * o + conv(o, o) + (conv(i, o, 1) if i != o else 0)

    expected = conv(3, 64) + sum(block(i, o) + block(o, o) for i, o in ((64, 64), (64, 128), (128, 256), (256, 512)))
    expected += 512 * 10 + 10
    assert sum(p.numel() for p in m.parameters()) == expected == 11_171_146
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [s[0].conv1.stride for s in m.stages] == [(1, 1), (2, 2), (2, 2), (2, 2)]


@pytest.mark.parametrize("name", ["cnn4", "preact_resnet18"])
def test_grayscale_and_other_pools(name):
    m = create_model(name, num_classes=7, in_chans=1, pool="max")
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 7)
