"""What a pool computes on a 1x1 map, found by probing the pool (not read from its documentation).

VGG-16-BN and MobileNetV2 end at a 1x1 map on 32x32 inputs, so there a global pool sees one value
per channel. Most pools then reduce to (a function of) the identity: avg, max, softmax-weighted
pools and LSE give x; avg + max gives 2x; GeM gives max(x, eps). A pool that is a fixed linear map
of x there (x, k x, one factor per channel, copies [x, x]) is absorbed by the Linear classifier
that follows, and max(x, eps) equals x on the models' non-negative (post-ReLU) features: pools that
all do one of these are *the same function* on that column, and their differences there are
run-to-run noise (``results.table`` marks such columns).

``probe_1x1(make)`` feeds random [B, C, 1, 1] inputs (negative values included, so max(x, 0) and
x are told apart) in eval and train mode, then again after perturbing every parameter (learned
weights move in training: raw FlexPool weights are 1 at init, w_c afterwards), and names the
relation it finds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

#: max(x, e) counts as the identity on non-negative maps when |e| is at most this (GeM's eps 1e-6)
SMALL_CLAMP = 1e-3


@dataclass(frozen=True)
class OneByOne:
    """The relation y = f(x) a pool shows on 1x1 maps."""

    relation: str  # "x", "2 x", "[x, x]", "a_c x", "max(x, 1e-06)", "a constant", "another function of x", "NaN output"
    identity: bool  # y == x in eval and train mode, for every parameter value tried
    same_as_identity: bool  # identity up to what the classifier absorbs, on non-negative maps
    at_init: str | None = None  # the relation at initialisation, when it differs from ``relation``

    def text(self) -> str:
        rel = self.relation if self.at_init is None else f"{self.at_init} at init, {self.relation} once trained"
        if self.identity:
            return f"{rel}: the identity"
        if self.same_as_identity and "max(" in self.relation:
            return f"{rel}: the identity on non-negative (post-ReLU) maps"
        if self.same_as_identity:
            return f"{rel}: the identity up to a fixed linear map the classifier absorbs"
        if "NaN output" in rel or "Inf output" in rel:
            return f"{rel}: no function of x at all (the finite rows fail on 1x1 maps)"
        return f"{rel}: not the identity"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * (1 + float(b.abs().max()))))


def _relation(y: torch.Tensor, x: torch.Tensor) -> tuple[str, bool]:
    """(name, same as the identity up to absorbed scale / eps clamp) for y [B, F] against x [B, C]."""
    c = x.shape[1]
    if not torch.isfinite(y).all():  # no value to relate to x (the contract's finite rows fail)
        return ("NaN" if torch.isnan(y).any() else "Inf") + " output", False
    if y.ndim == 2 and y.shape[0] == x.shape[0] and _close(y, y[:1].expand_as(y)):
        return "a constant", False  # the same output whatever x (covariance pooling's 0): no scale of x
    if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] % c:
        return f"an output of shape {list(y.shape)}", False
    copies = y.split(c, dim=1)
    if len(copies) > 1:
        if not all(_close(part, copies[0]) for part in copies[1:]):
            return "another function of x", False
        inner, same = _relation(copies[0], x)
        return "[" + ", ".join([inner] * len(copies)) + "]", same
    if _close(y, x):
        return "x", True
    k = float((y * x).sum() / (x * x).sum())
    if _close(y, k * x):
        return f"{k:.3g} x", True
    a = (y * x).sum(0) / (x * x).sum(0)
    if _close(y, a * x):
        return "a_c x (one factor per channel)", True
    e = float(y.min())
    if _close(y, x.clamp(min=e)):
        return f"max(x, {e:.3g})", abs(e) <= SMALL_CLAMP
    return "another function of x", False


def _outputs(pool: nn.Module, x: torch.Tensor):
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return [pool.train(mode)(x).float() for mode in (False, True)]


def probe_1x1(make: Callable[[int], nn.Module], channels: int = 8, batch: int = 32) -> OneByOne:
    """Probe a fresh pool ``make(channels)`` on 1x1 maps; see the module docstring."""
    g = torch.Generator().manual_seed(0)
    x4 = torch.randn(batch, channels, 1, 1, generator=g)
    x = x4.flatten(1)
    pool = make(channels)
    fresh = [_relation(y, x) for y in _outputs(pool, x4)]
    trained = copy.deepcopy(pool)
    with torch.no_grad():
        for p in trained.parameters():
            if p.is_floating_point() and p.numel():
                noise = torch.randn(p.shape, generator=g)
                p.mul_(0.5 + torch.rand(p.shape, generator=g)).add_(0.3 * noise)
    moved = [_relation(y, x) for y in _outputs(trained, x4)]
    names = {n for n, _ in fresh + moved}
    if len(names) == 1:
        name = names.pop()
        return OneByOne(name, name == "x", all(s for _, s in fresh + moved))
    (eval0, _), (train0, _) = fresh
    (eval1, _), (train1, _) = moved
    same = all(s for _, s in fresh + moved)
    if eval0 == train0 and eval1 == train1:  # differs only with the parameters
        return OneByOne(eval1, False, same, at_init=eval0)
    return OneByOne(
        f"train: {train1}; eval: {eval1}",
        False,
        same,
        at_init=None if (eval0, train0) == (eval1, train1) else f"train: {train0}; eval: {eval0}",
    )
