"""The module packer: K identically structured models -> one ``PackedModel``, layer by layer.

``PACKERS`` maps a layer type to the function that packs K corresponding layers of that type; each
returns the packed layer and its plan entries (which packed tensor holds which member tensor, see
``PackedModel``):

  * ``Conv2d(cin, cout, groups=g)``  -> ``Conv2d(K*cin, K*cout, groups=K*g)``, weights concatenated
    (HFTA's ``hfta/ops/conv.py``);
  * ``BatchNorm2d(C)``               -> ``BatchNorm2d(K*C)``: BN statistics are per channel anyway
    (HFTA's ``batchnorm.py``);
  * ``Linear(i, o)``                 -> ``PackedLinear`` (weights [K, o, i]);
  * dropout                          -> ``PerModel``: each member's own random mask;
  * parameter-free per-channel leaves (activations, max/avg pools, identities, flatten): one
    instance shared by all K.

Three rules name no type and are applied around the table (``_packer_for``): the models' head pool,
whatever its class, becomes a ``PackedPool`` (each member's own pool on its own channels, so every
pool packs exactly: learnable, cross-channel or stochastic); a module with a ``pack(modules)``
method (ResNet's option-A ``PadShortcut``, LDA downsampling) packs itself; a container (Sequential,
a residual block, the model itself) is a copy of itself holding its packed children. Anything else
raises ``NotPackable`` and the caller trains that run on its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, cast

import torch
import torch.nn as nn
from torch.nn.modules.dropout import _DropoutNd

from ...pools.base import GlobalPool
from .modules import PackedLinear, PackedModel, PackedPool, PerModel, Slot
from .rng import MemberRNG


class NotPackable(ValueError):
    """These models (or runs) cannot be trained as one packed network; the message says why."""


class Packed(NamedTuple):
    """K modules packed: the packed module, and the plan entries of the tensors it holds."""

    module: nn.Module
    plan: list[Slot]


@dataclass(frozen=True)
class Context:
    """What every packer may need besides the modules: the members' RNG streams, and the first
    model's head pool (``model.pool``), which is packed per model whatever its class."""

    rng: MemberRNG
    pool: nn.Module | None


Packer = Callable[[list[nn.Module], str, Context], Packed]


class SelfPacking(Protocol):
    """A module that knows its packed form: ``pack(modules)`` returns one module for all of them."""

    def pack(self, modules: list[nn.Module]) -> nn.Module: ...


# Parameter-free leaves that act per channel (or per element): one instance serves all K models.
SHARED_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
)
DROPOUTS: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


# ----------------------------------------------------------------------------- helpers
def _prefix(path: str) -> str:
    return path + "." if path else ""


def _same(mods: Sequence[nn.Module], path: str, *attrs: str) -> None:
    for a in attrs:
        vals = {repr(getattr(m, a)) for m in mods}
        if len(vals) > 1:
            raise NotPackable(f"{path or 'model'}: the models differ in {a} ({', '.join(sorted(vals))})")


def _child_names(m: nn.Module) -> tuple[str, ...]:
    return tuple(n for n, _ in m.named_children())


def _same_structure(mods: Sequence[nn.Module], path: str) -> None:
    """Same type, same children, same plain settings (stride, p, use_residual, ...) in every model."""
    kinds = {type(m) for m in mods}
    if len(kinds) > 1:
        raise NotPackable(f"{path or 'model'}: the models differ here ({', '.join(sorted(t.__name__ for t in kinds))})")
    if len({_child_names(m) for m in mods}) > 1:
        raise NotPackable(f"{path or 'model'}: the models differ in their submodules")
    plain = (int, float, str, bool, tuple, type(None))
    _same(mods, path, *sorted(a for a, v in vars(mods[0]).items() if not a.startswith("_") and isinstance(v, plain)))


def _own_state(m: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The module's own parameters, then its own buffers (not its children's)."""
    return list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))


def _split_plan(m: nn.Module, path: str) -> list[Slot]:
    """Every own tensor of ``m`` split along dim 0, member k's slice being k (same name packed)."""
    name = _prefix(path)
    return [(name + n, name + n, "split", t.shape) for n, t in _own_state(m)]


def _cat(tensors: Sequence[torch.Tensor], stack: bool = False) -> torch.Tensor:
    t = [x.detach() for x in tensors]
    return torch.stack(t) if stack else torch.cat(t)


# ----------------------------------------------------------------------------- the per-type packers
def _pack_conv(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """K convolutions -> one grouped convolution K times as wide (each member its own groups)."""
    convs = cast(list[nn.Conv2d], mods)
    m0, k = convs[0], len(convs)
    if (m0.bias is None) != any(m.bias is None for m in convs) or m0.padding_mode != "zeros":
        raise NotPackable(f"{path}: conv bias or padding mode not packable")
    conv = torch.nn.utils.skip_init(
        nn.Conv2d,
        k * m0.in_channels,
        k * m0.out_channels,
        m0.kernel_size,
        m0.stride,
        m0.padding,
        m0.dilation,
        k * m0.groups,
        m0.bias is not None,
        device=m0.weight.device,
        dtype=m0.weight.dtype,
    )
    conv.weight = nn.Parameter(_cat([m.weight for m in convs]), m0.weight.requires_grad)
    if m0.bias is not None:
        conv.bias = nn.Parameter(_cat([m.bias for m in convs if m.bias is not None]), m0.bias.requires_grad)
    return Packed(conv, _split_plan(m0, path))


def _pack_batchnorm(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """K BatchNorm2d(C) -> a new BatchNorm2d(K*C) with their hyperparameters and concatenated tensors."""
    bns = cast(list[nn.BatchNorm2d], mods)
    m0, name = bns[0], _prefix(path)
    bn = nn.BatchNorm2d(len(bns) * m0.num_features, m0.eps, m0.momentum, m0.affine, m0.track_running_stats)
    bn.train(m0.training)
    plan: list[Slot] = []
    for n, t in _own_state(m0):
        if n == "num_batches_tracked":  # one step counter for all: the members step together
            if len({int(getattr(m, n)) for m in bns}) > 1:
                raise NotPackable(f"{path}: the models have taken different numbers of steps")
            bn.num_batches_tracked = t.detach().clone()
            plan.append((name + n, name + n, "shared", None))
            continue
        packed = _cat([getattr(m, n) for m in bns])
        setattr(bn, n, nn.Parameter(packed, t.requires_grad) if isinstance(t, nn.Parameter) else packed)
        plan.append((name + n, name + n, "split", t.shape))
    return Packed(bn, plan)


def _pack_linear(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """K Linear layers -> one ``PackedLinear`` (weights stacked [K, out, in])."""
    lins = cast(list[nn.Linear], mods)
    m0 = lins[0]
    if (m0.bias is None) != any(m.bias is None for m in lins):
        raise NotPackable(f"{path}: some Linear layers have a bias and some do not")
    lin = PackedLinear(
        _cat([m.weight for m in lins], stack=True),
        None if m0.bias is None else _cat([m.bias for m in lins if m.bias is not None], stack=True),
    )
    return Packed(lin, _split_plan(m0, path))


def _pack_dropout(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """Dropout per member (each its own mask, from its own RNG stream); p = 0 draws nothing: shared."""
    m0 = cast(_DropoutNd, mods[0])
    return Packed(PerModel(mods, ctx.rng) if m0.p > 0 else copy.copy(m0), [])


def _share(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """A parameter-free per-channel leaf: one instance serves all K."""
    return Packed(copy.copy(mods[0]), [])


#: The per-type packers, by exact type (a subclass may change forward: it goes through ``_packer_for``).
PACKERS: dict[type[nn.Module], Packer] = {
    nn.Conv2d: _pack_conv,
    nn.BatchNorm2d: _pack_batchnorm,
    nn.Linear: _pack_linear,
    **dict.fromkeys(DROPOUTS, _pack_dropout),
    **dict.fromkeys(SHARED_LEAVES, _share),
}


# ----------------------------------------------------------------------------- the rules no type names
def _pack_pool(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """The head pools: each member's own pool module on its own channels (``PackedPool``)."""
    name = _prefix(path)
    plan: list[Slot] = [
        (f"{name}members.{i}.{n}", name + n, i, None) for i, m in enumerate(mods) for n in m.state_dict()
    ]
    return Packed(PackedPool(mods, ctx.rng), plan)


def _pack_self(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """A module with ``pack(modules)``; it must hold no state (there would be no plan to map it back)."""
    if any(m.state_dict() for m in mods):
        raise NotPackable(f"{path}: {type(mods[0]).__name__}.pack has state that cannot be mapped back per model")
    return Packed(cast(SelfPacking, mods[0]).pack(list(mods)), [])


def _pack_container(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """A container with its children packed. Its own forward must not assume a channel count
    (docs/ARCHITECTURE.md); ``verify_pack`` checks."""
    packed_children: dict[int, nn.Module] = {}
    plan: list[Slot] = []
    for c, child in mods[0].named_children():
        sub = pack_module([getattr(m, c) for m in mods], _prefix(path) + c, ctx)
        packed_children[id(child)] = sub.module
        plan += sub.plan
    # A deep copy whose memo already holds the packed children: a new container (its own dicts of
    # parameters, buffers and children, so the member is untouched) whose children are the packed ones.
    return Packed(copy.deepcopy(mods[0], memo=packed_children), plan)


def _packer_for(mods: list[nn.Module], path: str, ctx: Context) -> Packer:
    """The packer for K corresponding modules: the pool rule, the table by exact type, then the
    other rules; ``NotPackable`` (naming the module) where none applies."""
    m0 = mods[0]
    if m0 is ctx.pool or isinstance(m0, GlobalPool):
        return _pack_pool  # before the structure check: the members' pools may differ (that is the point)
    _same_structure(mods, path)
    if type(m0) in PACKERS:
        return PACKERS[type(m0)]
    if hasattr(m0, "pack"):
        return _pack_self
    if isinstance(m0, _DropoutNd):
        return _pack_dropout
    if _own_state(m0):
        raise NotPackable(
            f"{path or 'model'}: {type(m0).__name__} holds parameters or buffers and poolbench "
            f"does not know how to pack it (give it a pack(k) method); training unpacked"
        )
    if next(m0.children(), None) is not None:
        return _pack_container
    if isinstance(m0, SHARED_LEAVES):
        return _share
    raise NotPackable(
        f"{path}: {type(m0).__name__} is not known to act per channel (give it a pack(k) method); training unpacked"
    )


def pack_module(mods: list[nn.Module], path: str, ctx: Context) -> Packed:
    """The packed equivalent of K corresponding modules (at ``path`` in their models), with its plan."""
    return _packer_for(mods, path, ctx)(mods, path, ctx)


def pack_models(models: Sequence[nn.Module]) -> PackedModel:
    """Fuse K identically structured models (their pools may differ) into one ``PackedModel``.

    The members are left untouched; the packed network holds copies of their tensors.
    """
    models = list(models)
    if not models:
        raise NotPackable("no models to pack")
    for m in models:
        if hasattr(m, "training_loss"):
            raise NotPackable(
                f"{type(m).__name__} has its own training_loss (auxiliary classifiers or a "
                f"regulariser); packing supports plain cross-entropy only"
            )
    rng = MemberRNG(len(models))
    net, plan = pack_module(models, "", Context(rng, getattr(models[0], "pool", None)))
    return PackedModel(net, len(models), rng, plan, [[n for n, _ in m.named_parameters()] for m in models])


@torch.no_grad()
def verify_pack(packed: PackedModel, models: Sequence[nn.Module], x: torch.Tensor, tol: float = 1e-4) -> None:
    """Eval-mode logits of the packed net vs each member on the same images; ``NotPackable`` if they
    differ (a module whose forward assumes its channel count would be silently wrong otherwise)."""
    everyone = [*models, packed]
    modes = [m.training for m in everyone]
    for m in everyone:
        m.eval()
    try:
        got = packed(x.repeat(1, packed.k, 1, 1)).float()
        for k, m in enumerate(models):
            _check_member(k, m(x).float().flatten(1), got[:, k], tol)  # [B, n] logits: flatten is a no-op
    finally:
        for m, mode in zip(everyone, modes, strict=True):
            m.train(mode)


def _check_member(k: int, want: torch.Tensor, mine: torch.Tensor, tol: float) -> None:
    # a model that is NaN on its own is NaN packed too: the same non-finite entries must agree
    finite = torch.isfinite(want)
    if not torch.equal(finite, torch.isfinite(mine)) or not torch.equal(
        want[~finite].nan_to_num(), mine[~finite].nan_to_num()
    ):
        raise NotPackable(
            f"packed model {k} is non-finite where its own model is not (or the other way "
            f"round): some module's forward assumes its channel count; training unpacked"
        )
    err = (mine[finite] - want[finite]).abs().max().item() if finite.any() else 0.0
    if not err <= tol * (1 + (want[finite].abs().max().item() if finite.any() else 0.0)):
        raise NotPackable(
            f"packed model {k} disagrees with its own model by {err:.3g}: some module's "
            f"forward assumes its channel count; training unpacked"
        )
