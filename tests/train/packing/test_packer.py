"""Every entry of the packer table, and each rule beside it, packs K modules exactly and maps back.

Each case builds K = 3 modules of one kind with different weights, packs them with ``pack_models``
(a module is its own one-layer model here) and checks: the packed module on the K inputs side by
side gives each member's own output (bitwise: every packed layer computes member k's block with
member k's weights only), the plan maps every packed tensor back to the member's tensor exactly
(``unpack_state`` == ``state_dict()``), and the members are left untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn as nn

from poolbench.models.resnet import PadShortcut
from poolbench.pools import build_pool
from poolbench.train.packing import (
    PACKERS,
    NotPackable,
    PackedPool,
    PerModel,
    load_members,
    pack_models,
    unpack_state,
    verify_pack,
)
from poolbench.train.packing.packer import DROPOUTS, SHARED_LEAVES

K, SEEDS, TOL = 3, (11, 12, 13), 1e-5


def _fill(m: nn.Module, seed: int) -> nn.Module:
    """Distinct, non-trivial values in every tensor (BN statistics included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(m.parameters()) + [b for b in m.buffers() if b.is_floating_point()]:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return m


# One factory and one input shape per table entry; a new entry without a case fails test_every_entry_has_a_case.
CASES: dict[type[nn.Module], tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    nn.Conv2d: (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 7)),
    nn.BatchNorm2d: (lambda: nn.BatchNorm2d(4, momentum=0.3), (5, 4, 3, 3)),
    nn.Linear: (lambda: nn.Linear(5, 3), (2, 5)),
    nn.Dropout: (lambda: nn.Dropout(0.5), (4, 4, 3, 3)),
    nn.Dropout1d: (lambda: nn.Dropout1d(0.5), (4, 4, 6)),
    nn.Dropout2d: (lambda: nn.Dropout2d(0.5), (4, 4, 3, 3)),
    nn.Dropout3d: (lambda: nn.Dropout3d(0.5), (4, 4, 2, 3, 3)),
    nn.AlphaDropout: (lambda: nn.AlphaDropout(0.5), (4, 4, 3, 3)),
    nn.FeatureAlphaDropout: (lambda: nn.FeatureAlphaDropout(0.5), (4, 4, 3, 3)),
    nn.Identity: (nn.Identity, (2, 4, 3, 3)),
    nn.ReLU: (nn.ReLU, (2, 4, 3, 3)),
    nn.ReLU6: (nn.ReLU6, (2, 4, 3, 3)),
    nn.LeakyReLU: (lambda: nn.LeakyReLU(0.2), (2, 4, 3, 3)),
    nn.ELU: (nn.ELU, (2, 4, 3, 3)),
    nn.GELU: (nn.GELU, (2, 4, 3, 3)),
    nn.SiLU: (nn.SiLU, (2, 4, 3, 3)),
    nn.Mish: (nn.Mish, (2, 4, 3, 3)),
    nn.Hardswish: (nn.Hardswish, (2, 4, 3, 3)),
    nn.Hardsigmoid: (nn.Hardsigmoid, (2, 4, 3, 3)),
    nn.Sigmoid: (nn.Sigmoid, (2, 4, 3, 3)),
    nn.Tanh: (nn.Tanh, (2, 4, 3, 3)),
    nn.MaxPool2d: (lambda: nn.MaxPool2d(2), (2, 4, 6, 6)),
    nn.AvgPool2d: (lambda: nn.AvgPool2d(2), (2, 4, 6, 6)),
    nn.AdaptiveAvgPool2d: (lambda: nn.AdaptiveAvgPool2d(1), (2, 4, 5, 5)),
    nn.AdaptiveMaxPool2d: (lambda: nn.AdaptiveMaxPool2d(1), (2, 4, 5, 5)),
    nn.Flatten: (nn.Flatten, (2, 4, 3, 3)),
}


def _members(make: Callable[[], nn.Module]) -> list[nn.Module]:
    out = []
    for s in SEEDS:
        torch.manual_seed(s)
        out.append(_fill(make(), s))
    return out


def _inputs(shape: tuple[int, ...]) -> list[torch.Tensor]:
    return [torch.randn(shape, generator=torch.Generator().manual_seed(100 + k)) for k in range(K)]


def _own_outputs(members: list[nn.Module], xs: list[torch.Tensor], train: bool) -> list[torch.Tensor]:
    """Each member on its own input, its random draws from ``torch.manual_seed(seed)`` (as a run)."""
    outs = []
    for m, x, s in zip(members, xs, SEEDS, strict=True):
        m.train(train)
        torch.manual_seed(s)
        outs.append(m(x).flatten(1))
    return outs


def _check_exact(members: list[nn.Module], xs: list[torch.Tensor], train: bool = True) -> None:
    before = [{n: t.clone() for n, t in m.state_dict().items()} for m in members]
    children = [[id(c) for c in m.modules()] for m in members]
    packed = pack_models(members)
    assert [[id(c) for c in m.modules()] for m in members] == children  # the members are untouched
    for m, sd in zip(members, before, strict=True):
        assert all(torch.equal(sd[n], t) for n, t in m.state_dict().items())
    # the plan maps every packed tensor back to the member's own, exactly
    for m, got in zip(members, unpack_state(packed), strict=True):
        assert got.keys() == m.state_dict().keys()
        assert all(torch.equal(got[n], t) for n, t in m.state_dict().items())
    if xs[0].dim() == 4:  # what the trainer checks before training a pack (eval mode, one shared batch)
        verify_pack(packed, members, xs[0])
    packed.train(train)
    packed.rng.seed(SEEDS, torch.device("cpu"))
    y = packed(torch.cat(xs, dim=1))
    want = _own_outputs(members, xs, train)
    assert y.shape[1] == K
    for k in range(K):  # vectorised kernels may round a wider tensor's tail otherwise: within 1e-5 (the house bound)
        torch.testing.assert_close(y[:, k], want[k], rtol=TOL, atol=TOL, msg=f"member {k}")
    # after a training forward (BN's running statistics moved), the states still map back
    for m, got in zip(members, unpack_state(packed), strict=True):
        for n, t in m.state_dict().items():
            torch.testing.assert_close(got[n], t, rtol=TOL, atol=TOL, msg=n)


def test_every_entry_has_a_case():
    assert set(PACKERS) == set(CASES) == {nn.Conv2d, nn.BatchNorm2d, nn.Linear, *DROPOUTS, *SHARED_LEAVES}


@pytest.mark.parametrize("kind", sorted(CASES, key=lambda t: t.__name__), ids=lambda t: t.__name__)
def test_each_table_entry_packs_exactly(kind):
    make, shape = CASES[kind]
    members = _members(make)
    _check_exact(members, _inputs(shape))


@pytest.mark.parametrize("kind", [nn.Conv2d, nn.BatchNorm2d, nn.Linear], ids=lambda t: t.__name__)
def test_load_members_writes_each_member_back(kind):
    make, _ = CASES[kind]
    packed = pack_models(_members(make))
    others = [_fill(make(), 50 + k).state_dict() for k in range(K)]
    load_members(packed, others)
    for want, got in zip(others, unpack_state(packed), strict=True):
        assert all(torch.equal(got[n], t) for n, t in want.items())


def test_dropout_runs_per_member_and_a_zero_dropout_is_shared():
    assert isinstance(pack_models(_members(lambda: nn.Dropout(0.5))).net, PerModel)
    shared = pack_models(_members(lambda: nn.Dropout(0.0))).net
    assert type(shared) is nn.Dropout and shared.p == 0.0


def test_packed_batchnorm_is_a_fresh_layer_with_the_members_hyperparameters():
    members = _members(lambda: nn.BatchNorm2d(4, eps=1e-3, momentum=0.3))
    bn = pack_models(members).net
    assert type(bn) is nn.BatchNorm2d and bn.num_features == K * 4
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-3, 0.3, True, True)
    assert all(bn.weight is not m.weight and bn.running_mean is not m.running_mean for m in members)
    _check_exact(_members(lambda: nn.BatchNorm2d(4, affine=False)), _inputs((5, 4, 3, 3)))
    _check_exact(_members(lambda: nn.BatchNorm2d(4, track_running_stats=False)), _inputs((5, 4, 3, 3)))


@pytest.mark.parametrize("pool", ["gem", "gemgate"])
def test_a_pool_is_each_members_own_pool_with_its_own_random_stream(pool):
    kw = {"pos_drop": 0.3, "drop": 0.2} if pool == "gemgate" else {}
    members = _members(lambda: build_pool(pool, channels=4, **kw))
    assert isinstance(pack_models(members).net, PackedPool)
    _check_exact(members, _inputs((4, 4, 5, 5)))


class PlainPool(nn.Module):
    """A head pool that is no GlobalPool and holds a parameter: packed per model as the model's pool."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x.mean((2, 3)) * self.scale


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = PlainPool()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)))


def test_the_models_own_pool_packs_whatever_its_class():
    members = _members(TinyNet)
    assert isinstance(pack_models(members).net.pool, PackedPool)
    _check_exact(members, _inputs((2, 3, 4, 4)))


def test_a_module_with_pack_packs_itself():
    members = [PadShortcut(2, 4) for _ in range(K)]
    net = pack_models(members).net
    assert isinstance(net, PadShortcut) and net.models == K
    _check_exact(members, _inputs((2, 4, 6, 6)))


def test_a_container_is_a_new_container_of_packed_children():
    make = lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3))  # noqa: E731
    members = _members(make)
    net = pack_models(members).net
    assert type(net) is nn.Sequential and all(net is not m for m in members)
    assert net[0].in_channels == K * 3 and isinstance(net[3], PerModel)
    assert all(m[0].in_channels == 3 and len(m) == 4 for m in members)  # each member keeps its own children
    _check_exact(members, _inputs((2, 3, 5, 5)))


class Flipped(nn.Module):
    """A container whose own forward assumes its channel count (it reverses all of them)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x).flip(1).mean((2, 3))


def test_verify_pack_refuses_a_forward_that_assumes_its_channel_count():
    members = _members(Flipped)
    packed = pack_models(members)  # the packer cannot see inside a forward ...
    with pytest.raises(NotPackable, match="disagrees with its own model"):  # ... the check on real outputs does
        verify_pack(packed, members, torch.randn(2, 3, 4, 4))
