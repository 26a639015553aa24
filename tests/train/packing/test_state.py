"""Member <-> packed state: K separately stepped models and optimizers map into one pack and back, exactly."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from poolbench.train import RunConfig
from poolbench.train.build import make_optimizer
from poolbench.train.packing import (
    load_members,
    load_optimizer_members,
    pack_models,
    unpack_optimizer_state,
    unpack_state,
)

CFG = RunConfig(model="resnet20", dataset="synthetic")  # its protocol's SGD: lr 0.1, momentum 0.9, wd 5e-4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def _stepped(seed: int, steps: int = 2):
    """A member trained on its own for a few SGD steps: its model and optimizer hold momentum and BN statistics."""
    torch.manual_seed(seed)
    m = Net()
    opt = make_optimizer(m, CFG)
    for _ in range(steps):
        x, y = torch.randn(4, 3, 5, 5), torch.randint(0, 3, (4,))
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return m, opt


def test_separate_members_map_into_the_pack_and_back_exactly():
    members, opts = zip(*[_stepped(s) for s in (0, 1, 2)], strict=True)
    states = [m.state_dict() for m in members]
    packed = pack_models([Net() for _ in members])  # fresh weights: everything below comes from the members
    load_members(packed, states)
    opt = make_optimizer(packed, CFG)
    load_optimizer_members(packed, opt, [o.state_dict() for o in opts])
    for want, got in zip(states, unpack_state(packed), strict=True):
        assert want.keys() == got.keys() and all(torch.equal(want[n], got[n]) for n in want)
    for o, got in zip(opts, unpack_optimizer_state(packed, opt), strict=True):
        want = o.state_dict()
        assert got["param_groups"] == want["param_groups"]
        assert got["state"].keys() == want["state"].keys()
        for i, st in want["state"].items():
            assert torch.equal(got["state"][i]["momentum_buffer"], st["momentum_buffer"])
