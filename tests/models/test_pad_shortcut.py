"""The option-A ResNet shortcut and its packed (K models side by side) form."""

from __future__ import annotations

import torch

from poolbench.models.resnet import PadShortcut


def test_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 16, 8, 8)
    y = PadShortcut(stride=2, pad_channels=16)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, 24:] == 0)


def test_pack_equals_k_separate_shortcuts():
    k, short = 3, PadShortcut(stride=2, pad_channels=16)
    xs = [torch.randn(2, 16, 8, 8) for _ in range(k)]
    packed = short.pack(k)
    out = packed(torch.cat(xs, 1))
    assert out.shape == (2, k * 32, 4, 4)
    assert torch.equal(out, torch.cat([short(x) for x in xs], 1))
    # the list form (the modules to fuse) gives the same module; packing twice multiplies
    assert short.pack([short] * k).models == k and packed.pack(2).models == 2 * k
