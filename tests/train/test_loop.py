"""The one training step and evaluation (``train.loop``): a non-finite logit marks its own member's
loss NaN, for one run and for each member of a pack, even where the cross-entropy stays finite."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from poolbench.train import Protocol, RunConfig
from poolbench.train.inputs import RunData
from poolbench.train.loop import evaluate, train_epoch
from poolbench.train.packing import MemberRNG

CLASSES = 3  # the images are labelled 0 or 1 only: a -inf logit of class 2 leaves the cross-entropy finite


def _data() -> RunData:
    g = torch.Generator().manual_seed(0)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)

    labels = torch.tensor([0, 1] * 8)
    return RunData(images(16), labels, images(4), labels[:4], None, None, (0.5,) * 3, (0.25,) * 3, CLASSES, 3)


class MinusInfLastLogit(nn.Module):
    """Logits of ``members`` linear classifiers side by side ([B, K, n]; [B, n] for one), the last
    class's logit -inf for the members in ``broken``."""

    def __init__(self, members: int, broken: set[int]):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(3 * 32 * 32, CLASSES) for _ in range(members))
        self.broken, self.rng = broken, MemberRNG(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(len(self.heads), 1)
        logits = torch.stack([head(c.flatten(1)) for head, c in zip(self.heads, chunks, strict=True)], 1)
        mask = torch.zeros_like(logits)
        for k in self.broken:
            mask[:, k, -1] = -math.inf
        return (logits + mask).squeeze(1) if len(self.heads) == 1 else logits + mask


def _members(k: int) -> list[RunConfig]:
    protocol = Protocol(epochs=1, batch_size=8, lr=0.01)
    return [RunConfig(model="cnn4", dataset="synthetic", seed=s, protocol=protocol) for s in range(k)]


def _run(model: nn.Module, k: int) -> tuple[list[dict[str, float]], tuple[list[float], list[float]]]:
    data, members, device = _data(), _members(k), torch.device("cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trained = train_epoch(model, opt, data, members, 0, device)
    return trained, evaluate(model, data.test_x, data.test_y, data, members, device)


def test_a_minus_inf_logit_makes_a_single_runs_losses_nan_though_its_cross_entropy_is_finite():
    (rec,), (test_loss, _) = _run(MinusInfLastLogit(1, broken={0}), 1)
    assert math.isnan(rec["train_loss"]) and math.isnan(test_loss[0])
    (rec,), (test_loss, _) = _run(MinusInfLastLogit(1, broken=set()), 1)
    assert math.isfinite(rec["train_loss"]) and math.isfinite(test_loss[0])


def test_a_minus_inf_logit_of_one_pack_member_makes_only_its_losses_nan():
    recs, (test_loss, test_acc) = _run(MinusInfLastLogit(3, broken={1}), 3)
    assert [math.isnan(r["train_loss"]) for r in recs] == [False, True, False]
    assert [math.isnan(v) for v in test_loss] == [False, True, False]
    assert all(0.0 <= a <= 100.0 for a in test_acc)


class Linear(nn.Module):
    """One linear classifier; ``member_dim``: its logits as a pack of one gives them, [B, 1, n]."""

    def __init__(self, member_dim: bool):
        super().__init__()
        torch.manual_seed(0)
        self.head, self.member_dim, self.rng = nn.Linear(3 * 32 * 32, CLASSES), member_dim, MemberRNG(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x.flatten(1))
        return logits.unsqueeze(1) if self.member_dim else logits


def test_a_pack_of_one_trains_exactly_as_the_single_run():
    """The survivor of a pack is a pack of one: its network gives [B, 1, n] logits, which the step
    must read as the single run's [B, n]."""
    single, pack_of_one = Linear(member_dim=False), Linear(member_dim=True)
    assert _run(single, 1) == _run(pack_of_one, 1)
    assert torch.equal(single.head.weight, pack_of_one.head.weight)
