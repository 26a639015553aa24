"""K identically shaped models trained as one wider network (horizontal fusion), exactly.

After HFTA (Wang, Yang, Pekhimenko et al., "Horizontally Fused Training Array: An Effective Hardware
Utilization Squeezer for Training Novel Deep Learning Models", MLSys 2021; UofT-EcoSystem/hfta,
``hfta/ops/conv.py``, ``batchnorm.py``): small CNNs leave a GPU idle, so K of them run side by side,
their channels concatenated, as one network whose every layer is K independent layers:

  * ``Conv2d(cin, cout, groups=g)``  -> ``Conv2d(K*cin, K*cout, groups=K*g)``, weights concatenated;
  * ``BatchNorm2d(C)``               -> ``BatchNorm2d(K*C)`` (BN statistics are per channel anyway);
  * ``Linear(i, o)``                 -> ``PackedLinear`` (weights [K, o, i]);
  * the head's pool                  -> ``PackedPool``: each model's *own* pool on its own channels,
    so every pool packs exactly, learnable, cross-channel or stochastic;
  * modules with ``pack(k)`` (the ResNet option-A ``PadShortcut``) pack themselves;
  * activations, max-pools, identities and containers are shared (they are per-channel or hold no
    state); dropout runs per model (below). Anything else raises ``NotPackable`` and the caller
    trains that run on its own.

The input is the K models' batches concatenated along channels ([B, K*3, H, W]); the logits come
back as [B, K, n]. The loss is sum_k CE_k, so model k's gradient is exactly its separate-run
gradient, and since SGD (momentum, weight decay on every parameter) is elementwise, one optimizer
over the packed tensors is K optimizers. With PyTorch's native CPU kernels packed training is
bitwise the K separate runs (tests/train/test_packed.py); oneDNN and cuDNN may pick another kernel
for a grouped convolution than for a plain one, which rounds differently (fp32, ~1e-7 relative).

Randomness. A separate run reseeds the global RNG at every epoch and its dropout / stochastic pool
draws from it. Here every model keeps its own RNG state (``MemberRNG``): its pool and dropout run
with that state swapped in, so they draw exactly the numbers of its separate run (the data order
comes from ``engine.epoch_batches(data, seed_k, epoch)``, already per model).

Divergence. Member k's parameters only ever meet member k's activations (grouped convs, per-channel
BN, per-model heads), so a diverged (NaN) member cannot touch the others (tested on CPU). It is
recorded as diverged at that epoch, exactly as ``train_run`` would, and the pack is rebuilt from
the survivors' exact states. The CUDA paths (MemberRNG's CUDA states, cuDNN's grouped
convolutions) are checked by tests/train/test_packed_cuda.py on a GPU.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.dropout import _DropoutNd

from ..pools.base import GlobalPool
from ..results.store import RunDir, atomic_write_json
from . import engine
from .config import RunConfig
from .progress import interactive

Slot = tuple[str, str, Any, Any]  # (packed name, member name, how, member shape): see PackedModel


class NotPackable(ValueError):
    """These models (or runs) cannot be trained as one packed network; the message says why."""


# Parameter-free leaves that act per channel (or per element): one instance serves all K models.
_SHARED_LEAVES = (
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
# RunConfig fields that must agree between the runs of one pack.
_SAME_FIELDS = (
    "model",
    "dataset",
    "protocol",
    "amp",
    "val_split",
    "holdout",
    "model_args",
    "data_path",
    "data_dir",
    "channels_last",
    "compile",
    "compile_mode",
)


# ----------------------------------------------------------------------------- per-model RNG
class MemberRNG:
    """One global-RNG state per packed model, swapped in around that model's random draws.

    ``states`` is None until ``seed`` is called (then a packed model draws from the global RNG like
    any module). Only the pool and dropout draw, so only they run inside ``call``.
    """

    def __init__(self, k: int):
        self.k, self.states, self.device = k, None, torch.device("cpu")

    def seed(self, seeds: Sequence[int], device: torch.device) -> None:
        """Each model's state as right after ``torch.manual_seed(seeds[k])`` (what the engine does)."""
        self.device, self.states = torch.device(device), []
        for s in seeds:
            with torch.random.fork_rng(devices=self._cuda()):
                torch.manual_seed(s)
                self.states.append(self._get())

    def _cuda(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []

    def _get(self) -> torch.Tensor:
        return torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.get_rng_state()

    def _set(self, state: torch.Tensor) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state, self.device)
        else:
            torch.set_rng_state(state)

    def call(self, k: int, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
        if self.states is None:
            return fn(*args)
        outside = self._get()
        self._set(self.states[k])
        try:
            return fn(*args)
        finally:
            self.states[k] = self._get()
            self._set(outside)


# ----------------------------------------------------------------------------- packed modules
class PackedLinear(nn.Module):
    """K Linear layers over [B, K*in] -> [B, K*out], weights stacked as [K, out, in].

    HFTA fuses them into one ``baddbmm``; here each model's block is its own ``F.linear`` instead,
    because a batched matmul's weight gradient rounds differently from a Linear's and the classifier
    is a negligible share of the work (K tiny matmuls), so the packed head is bitwise a plain one.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, out, in]
        self.bias = None if bias is None else nn.Parameter(bias)  # [K, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(self.weight.shape[0], dim=1)
        return torch.cat(
            [F.linear(c, self.weight[k], None if self.bias is None else self.bias[k]) for k, c in enumerate(chunks)],
            dim=1,
        )

    def extra_repr(self) -> str:
        k, out, inp = self.weight.shape
        return f"models={k}, in_features={inp}, out_features={out}, bias={self.bias is not None}"


class PerModel(nn.Module):
    """Run module k on channel chunk k (dim 1) with model k's RNG state; concatenate the outputs.

    For the pool (every model keeps its own pool module: learnable, cross-channel or stochastic, it
    sees exactly what it sees in its separate run) and for dropout (each model's own random mask).
    """

    def __init__(self, modules: Sequence[nn.Module], rng: MemberRNG):
        super().__init__()
        self.members = nn.ModuleList(modules)
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(len(self.members), dim=1)
        # Concatenating along dim 1 keeps model k's block contiguous after the head's flatten(1),
        # whether a pool returns [B, feat_mult*C] or [B, C, 1, 1].
        return torch.cat([self.rng.call(k, m, c) for k, (m, c) in enumerate(zip(self.members, chunks))], 1)


class PackedPool(PerModel):
    """The head pool of K models: model k's pool on channels [k*C, (k+1)*C), outputs concatenated
    per model ([B, K * feat_mult * C]), so a widening pool's layout stays per model."""

    @property
    def feat_mult(self) -> int:
        return int(getattr(self.members[0], "feat_mult", 1))


class PackedModel(nn.Module):
    """K models as one: ``forward([B, K*C, H, W]) -> [B, K, num_classes]``.

    ``plan`` lists every packed tensor as (packed name, member name, how, member shape), ``how``
    being "split" (model k owns slice k of dim 0), "shared" (one value for all: BN's step counter)
    or an int k (the tensor belongs to model k alone: its pool). ``slots[k]`` is the same seen from
    model k: {member name: (packed name, how, shape)}. ``member_params[k]``: model k's parameter
    names in ``named_parameters`` order (what its optimizer's state_dict indexes).
    """

    def __init__(self, net: nn.Module, k: int, rng: MemberRNG, plan: list[Slot], member_params: list[list[str]]):
        super().__init__()
        self.net, self.k, self.rng = net, k, rng
        self.plan, self.member_params = plan, member_params
        self.slots: list[dict[str, tuple[str, Any, Any]]] = [{} for _ in range(k)]
        for pname, mname, how, shape in plan:
            for i in range(k) if how in ("split", "shared") else [how]:
                self.slots[i][mname] = (pname, how, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return logits.reshape(logits.shape[0], self.k, -1)


def pack_inputs(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """K batches [B, C, H, W] -> one packed batch [B, K*C, H, W]."""
    return torch.cat(list(xs), dim=1)


# ----------------------------------------------------------------------------- packing
def _same(mods: Sequence[nn.Module], path: str, *attrs: str) -> None:
    for a in attrs:
        vals = {repr(getattr(m, a)) for m in mods}
        if len(vals) > 1:
            raise NotPackable(f"{path or 'model'}: the models differ in {a} ({', '.join(sorted(vals))})")


def _same_structure(mods: Sequence[nn.Module], path: str) -> None:
    """Same type, same children, same plain settings (stride, p, use_residual, ...) in every model."""
    kinds = {type(m) for m in mods}
    if len(kinds) > 1:
        raise NotPackable(f"{path or 'model'}: the models differ here ({', '.join(sorted(t.__name__ for t in kinds))})")
    if len({tuple(m._modules) for m in mods}) > 1:
        raise NotPackable(f"{path or 'model'}: the models differ in their submodules")
    plain = (int, float, str, bool, tuple, type(None))
    _same(mods, path, *sorted(a for a, v in vars(mods[0]).items() if not a.startswith("_") and isinstance(v, plain)))


def _own_state(m: nn.Module) -> list[str]:
    return [n for n, t in list(m._parameters.items()) + list(m._buffers.items()) if t is not None]


def _cat(tensors: Sequence[torch.Tensor], stack: bool = False) -> torch.Tensor:
    t = [x.detach() for x in tensors]
    return torch.stack(t) if stack else torch.cat(t)


def _pack_module(mods: list[nn.Module], path: str, pools: list[Any], rng: MemberRNG, plan: list[Slot]) -> nn.Module:
    """The packed equivalent of K corresponding modules; records each packed tensor in ``plan``."""
    m0, k = mods[0], len(mods)
    name = (path + ".") if path else ""
    if m0 is pools[0] or isinstance(m0, GlobalPool):
        packed = PackedPool(mods, rng)
        for i, m in enumerate(mods):
            plan += [(f"{name}members.{i}.{n}", name + n, i, None) for n in m.state_dict()]
        return packed
    _same_structure(mods, path)
    if type(m0) is nn.Conv2d:
        if (m0.bias is None) != any(m.bias is None for m in mods) or m0.padding_mode != "zeros":
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
        conv.weight = nn.Parameter(_cat([m.weight for m in mods]), m0.weight.requires_grad)
        if m0.bias is not None:
            conv.bias = nn.Parameter(_cat([m.bias for m in mods]), m0.bias.requires_grad)
        plan += [(name + n, name + n, "split", getattr(m0, n).shape) for n in _own_state(m0)]
        return conv
    if type(m0) is nn.BatchNorm2d:
        bn = copy.copy(m0)  # same hyperparameters; every tensor replaced below
        bn._parameters, bn._buffers = dict(m0._parameters), dict(m0._buffers)
        bn.num_features = k * m0.num_features
        for n in _own_state(m0):
            if n == "num_batches_tracked":
                if len({int(m.num_batches_tracked) for m in mods}) > 1:
                    raise NotPackable(f"{path}: the models have taken different numbers of steps")
                bn._buffers[n] = m0.num_batches_tracked.detach().clone()
                plan.append((name + n, name + n, "shared", None))
                continue
            t = _cat([getattr(m, n) for m in mods])
            if n in m0._parameters:
                bn._parameters[n] = nn.Parameter(t, m0._parameters[n].requires_grad)
            else:
                bn._buffers[n] = t
            plan.append((name + n, name + n, "split", getattr(m0, n).shape))
        return bn
    if type(m0) is nn.Linear:
        if (m0.bias is None) != any(m.bias is None for m in mods):
            raise NotPackable(f"{path}: some Linear layers have a bias and some do not")
        lin = PackedLinear(
            _cat([m.weight for m in mods], stack=True),
            None if m0.bias is None else _cat([m.bias for m in mods], stack=True),
        )
        plan += [(name + n, name + n, "split", getattr(m0, n).shape) for n in _own_state(m0)]
        return lin
    if hasattr(m0, "pack"):
        if any(m.state_dict() for m in mods):
            raise NotPackable(f"{path}: {type(m0).__name__}.pack has state that cannot be mapped back per model")
        return m0.pack(list(mods))
    if isinstance(m0, _DropoutNd):
        return PerModel(mods, rng) if m0.p > 0 else copy.copy(m0)
    if _own_state(m0):
        raise NotPackable(
            f"{path or 'model'}: {type(m0).__name__} holds parameters or buffers and poolbench "
            f"does not know how to pack it (give it a pack(k) method); training unpacked"
        )
    if not m0._modules:
        if isinstance(m0, _SHARED_LEAVES):
            return copy.copy(m0)
        raise NotPackable(
            f"{path}: {type(m0).__name__} is not known to act per channel (give it a pack(k) method); training unpacked"
        )
    # A container (Sequential, a residual block, the model itself): pack its children in place.
    # Its own forward must not assume a channel count (docs/ARCHITECTURE.md); verify_pack checks.
    packed = copy.copy(m0)
    packed._parameters, packed._buffers = {}, {}
    packed._modules = {c: _pack_module([m._modules[c] for m in mods], name + c, pools, rng, plan) for c in m0._modules}
    return packed


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
    plan: list[Slot] = []
    pools = [getattr(m, "pool", None) for m in models]
    net = _pack_module(models, "", pools, rng, plan)
    return PackedModel(net, len(models), rng, plan, [[n for n, _ in m.named_parameters()] for m in models])


@torch.no_grad()
def verify_pack(packed: PackedModel, models: Sequence[nn.Module], x: torch.Tensor, tol: float = 1e-4) -> None:
    """Eval-mode logits of the packed net vs each member on the same images; ``NotPackable`` if they
    differ (a module whose forward assumes its channel count would be silently wrong otherwise)."""
    modes = [m.training for m in models] + [packed.training]
    for m in list(models) + [packed]:
        m.eval()
    try:
        got = packed(x.repeat(1, packed.k, 1, 1)).float()
        for k, m in enumerate(models):
            want, mine = m(x).float(), got[:, k]
            # a model that is NaN on its own is NaN packed too: same non-finite entries agree
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
    finally:
        for m, mode in zip(list(models) + [packed], modes):
            m.train(mode)


# ----------------------------------------------------------------------------- state mapping
def _slice(t: torch.Tensor, k: int, how: Any, num: int, shape: torch.Size | None) -> torch.Tensor:
    """Model k's part of a packed tensor (a view where possible)."""
    if how == "split":
        return t.detach().reshape(num, -1)[k].reshape(shape)
    return t.detach()  # "shared", or the tensor of the one model that owns it


def unpack_state(packed: PackedModel) -> list[dict[str, torch.Tensor]]:
    """Each model's state_dict (loadable into a freshly built member model), from the packed one."""
    full = packed.net.state_dict()
    out: list[dict[str, torch.Tensor]] = [{} for _ in range(packed.k)]
    for k in range(packed.k):
        for mname, (pname, how, shape) in packed.slots[k].items():
            out[k][mname] = _slice(full[pname], k, how, packed.k, shape).clone()
    return out


def load_members(packed: PackedModel, states: Sequence[dict[str, torch.Tensor]]) -> None:
    """The inverse of ``unpack_state``: write K member state_dicts into the packed tensors."""
    full = packed.net.state_dict()
    with torch.no_grad():
        for pname, mname, how, _ in packed.plan:
            dst = full[pname]
            if how == "split":
                src = torch.stack([s[mname].reshape(-1) for s in states]).reshape(dst.shape)
            else:
                src = states[0 if how == "shared" else how][mname]
                if dst.shape != src.shape:  # a lazily sized pool tensor, not filled yet
                    dst.data = torch.empty(src.shape, dtype=dst.dtype, device=dst.device)
            dst.copy_(src)


def unpack_optimizer_state(packed: PackedModel, opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Each model's optimizer state_dict, as ``engine.make_optimizer(member)`` would hold it."""
    sd = opt.state_dict()
    names = [n for n, _ in packed.net.named_parameters()]
    by_name = {names[i]: st for i, st in sd["state"].items()}
    group = {key: v for key, v in sd["param_groups"][0].items() if key != "params"}
    out = []
    for k, member_names in enumerate(packed.member_params):
        state = {}
        for j, mname in enumerate(member_names):
            pname, how, shape = packed.slots[k][mname]
            if pname in by_name:  # momentum exists once a step was taken
                state[j] = {
                    key: _slice(v, k, how, packed.k, shape).clone() if torch.is_tensor(v) and v.dim() else v
                    for key, v in by_name[pname].items()
                }
        out.append({"state": state, "param_groups": [dict(group, params=list(range(len(member_names))))]})
    return out


def load_optimizer_members(packed: PackedModel, opt: torch.optim.Optimizer, states: Sequence[dict[str, Any]]) -> None:
    """Pack K member optimizer state_dicts into ``opt`` (built over ``packed.parameters()``)."""
    params = list(packed.net.named_parameters())
    slot_of = {pname: (mname, how) for pname, mname, how, _ in packed.plan}
    index = [{m: j for j, m in enumerate(ms)} for ms in packed.member_params]
    packed_state = {}
    for i, (pname, p) in enumerate(params):
        mname, how = slot_of[pname]
        members = range(packed.k) if how == "split" else [0 if how == "shared" else how]
        per = [states[k]["state"].get(index[k][mname]) for k in members]
        if any(st is None for st in per):
            continue
        packed_state[i] = {
            key: torch.stack([st[key].reshape(-1) for st in per]).reshape(p.shape)
            if torch.is_tensor(v) and v.dim()
            else v
            for key, v in per[0].items()
        }
    group = dict(opt.state_dict()["param_groups"][0])
    opt.load_state_dict({"state": packed_state, "param_groups": [group]})


# ----------------------------------------------------------------------------- training
def can_pack(configs: Sequence[RunConfig]) -> tuple[bool, str]:
    """(True, "") when these runs can share one packed network: same model, data and protocol (and
    speed switches); seeds, pools and pool arguments may differ. Model-level limits (an unknown
    layer) only show when packing, as ``NotPackable``; ``train_packed`` then trains them one by one."""
    configs = list(configs)
    if len(configs) < 2:
        return False, "fewer than two runs to pack"
    for f in _SAME_FIELDS:
        vals = {repr(getattr(c, f)) for c in configs}
        if len(vals) > 1:
            return False, f"the runs differ in {f}"
    if any(c.protocol.optimizer != "sgd" for c in configs):
        return False, "packing maps SGD's optimizer state only (this protocol uses another optimizer)"
    if any(c.sac is not None for c in configs):  # {} is SAC with its defaults
        return False, "auxiliary classifiers (sac) have their own loss, which packing does not implement"
    if len({c.run_id for c in configs}) < len(configs):
        return False, "the same run appears twice"
    return True, ""


def plan_packs(configs: Sequence[RunConfig], k: int) -> list[list[RunConfig]]:
    """Group runs into packs of at most ``k`` mutually packable runs (order kept within a group);
    what a sweep on a GPU hands to ``train_packed``. Singletons are plain runs."""
    groups: dict[str, list[RunConfig]] = {}
    for c in configs:
        key = repr([getattr(c, f) for f in _SAME_FIELDS] + [c.sac is not None, c.run_id if c.sac is not None else ""])
        groups.setdefault(key, []).append(c)
    return [g[i : i + k] for g in groups.values() for i in range(0, len(g), max(1, k))]


def _nonfinite_per_model(logits: torch.Tensor) -> torch.Tensor:
    """[K] bool (no host sync): does model k's block of the [B, K, n] logits hold a NaN or inf?"""
    return ~torch.isfinite(logits.detach()).all(2).all(0)


def _packed_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model mean cross-entropy [K] (the same call as a separate run's, model by model)."""
    return torch.stack([F.cross_entropy(logits[:, k].float(), y[:, k]) for k in range(logits.shape[1])])


def train_packed_epoch(
    packed: nn.Module,
    k: int,
    opt: torch.optim.Optimizer,
    data: engine.RunData,
    configs: Sequence[RunConfig],
    epoch: int,
    device: torch.device,
) -> dict[str, list[float]]:
    """One epoch for K packed models; each model gets exactly its separate run's batches."""
    cfg = configs[0]
    packed.train()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)  # a non-finite logit, per model
    n = 0
    streams = [
        engine.epoch_batches(data, c.seed, epoch, cfg.protocol.batch_size, cfg.protocol.augment) for c in configs
    ]
    for batches in zip(*streams):
        engine.step_begin(cfg)
        x = pack_inputs([data.inputs(xb) for xb, _ in batches])
        y = torch.stack([yb for _, yb in batches], 1)  # [B, K]
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with engine.autocast(cfg, device):
            logits = packed(x)
        losses = _packed_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # d(sum_k CE_k)/d(theta_k) = dCE_k/d(theta_k): each its own run
        opt.step()
        loss_sum += losses.detach() * len(y)
        correct += (logits.detach().argmax(2) == y).sum(0)
        bad |= _nonfinite_per_model(logits)
        n += len(y)
    # one host sync per epoch; NaN marks a model with a non-finite logit (as engine.train_epoch)
    losses_l, correct_l = torch.where(bad, float("nan"), loss_sum / n).tolist(), correct.tolist()
    return {"train_loss": losses_l, "train_acc": [100.0 * c / n for c in correct_l]}


@torch.no_grad()
def evaluate_packed(
    packed: nn.Module,
    k: int,
    x: torch.Tensor,
    y: torch.Tensor,
    data: engine.RunData,
    config: RunConfig,
    device: torch.device,
) -> tuple[list[float], list[float]]:
    """Per-model (mean cross-entropy, accuracy %) on shared images; one host sync at the end."""
    packed.eval()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)
    for i in range(0, len(y), engine.EVAL_BATCH):
        engine.step_begin(config)
        xb = data.inputs(x[i : i + engine.EVAL_BATCH]).repeat(1, k, 1, 1)
        yb = y[i : i + engine.EVAL_BATCH]
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with engine.autocast(config, device):
            logits = packed(xb).float()
        loss_sum += torch.stack([F.cross_entropy(logits[:, j], yb, reduction="sum") for j in range(k)])
        correct += (logits.argmax(2) == yb[:, None]).sum(0)
        bad |= _nonfinite_per_model(logits)
    losses = torch.where(bad, float("nan"), loss_sum / len(y))
    return losses.tolist(), [100.0 * c / len(y) for c in correct.tolist()]


class _Pack:
    """The live packed network of the members still training, with its optimizer."""

    def __init__(
        self,
        configs: list[RunConfig],
        models: list[nn.Module],
        model_states: list[dict[str, Any]],
        opt_states: list[dict[str, Any] | None],
        data: engine.RunData,
        device: torch.device,
    ):
        for m, s in zip(models, model_states):
            if s is not None:
                m.load_state_dict(s)
        self.configs, self.models = configs, models
        self.packed = pack_models(models).to(device)
        if configs[0].channels_last:
            self.packed = self.packed.to(memory_format=torch.channels_last)
        verify_pack(self.packed, models, data.inputs(data.test_x[:4]))
        self.opt = engine.make_optimizer(self.packed, configs[0])
        if all(s is not None for s in opt_states):
            load_optimizer_members(self.packed, self.opt, opt_states)
        self.step_model = engine.compiled(self.packed, configs[0])

    def member_states(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return unpack_state(self.packed), unpack_optimizer_state(self.packed, self.opt)

    def without(self, drop: list[int], data: engine.RunData, device: torch.device) -> _Pack | None:
        """A new pack of the members not in ``drop`` (their exact current states), or None."""
        keep = [i for i in range(len(self.configs)) if i not in drop]
        if not keep:
            return None
        ms, os_ = self.member_states()
        return _Pack(
            [self.configs[i] for i in keep],
            [self.models[i] for i in keep],
            [ms[i] for i in keep],
            [os_[i] for i in keep],
            data,
            device,
        )


def _train_separately(
    configs: Sequence[RunConfig],
    runs_dir: str | Path,
    device: Any,
    progress: bool,
    log: Callable[[str], None] | None,
    why: str,
) -> list[dict[str, Any]]:
    (log or print)(f"not packing: {why}; training the runs one after another")
    return [engine.train_run(c, runs_dir, device=device, progress=progress, log=log) for c in configs]


def train_packed(
    configs: Sequence[RunConfig],
    runs_dir: str | Path = "runs",
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train K runs as one packed network; returns their results in order, like K ``train_run`` calls.

    Each run's directory is written exactly as ``train_run`` writes it (its own checkpoint, loadable
    by ``train_run``, plus ``pack.json`` naming its pack mates). Finished runs are skipped; unfinished
    ones resume from their checkpoints if all stand at the same epoch, else they run one by one, as
    they do when the runs or the model cannot be packed (the reason is printed).
    """
    configs = list(configs)
    ok, why = can_pack(configs)
    if not ok and len(configs) > 1:
        return _train_separately(configs, runs_dir, device, progress, log, why)
    runs = [RunDir(runs_dir, c.run_id) for c in configs]
    results: list[dict[str, Any] | None] = [r.read_result() if r.is_done() else None for r in runs]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < 2:
        for i in todo:
            results[i] = engine.train_run(configs[i], runs_dir, device=device, progress=progress, log=log)
        return results  # type: ignore[return-value]
    device = engine.auto_device(device)
    cfgs = [configs[i] for i in todo]
    ckpts = [runs[i].load_checkpoint(map_location=device) for i in todo]
    start = {len(c["history"]) if c else 0 for c in ckpts}
    if len(start) > 1:
        done = _train_separately(cfgs, runs_dir, device, progress, log, "the runs stand at different epochs")
        for i, r in zip(todo, done):
            results[i] = r
        return results  # type: ignore[return-value]
    # Build everything that can fail on bad input before any run directory exists (as train_run).
    for c in cfgs:
        c.protocol.check()
        c.check_weight_files()
        c.check_pool_file()
        c.check_data()
    data = engine.prepare_data(cfgs[0], device)
    try:
        models = [engine.build_model(c, data).to(device) for c in cfgs]
        pack = _Pack(
            cfgs, models, [c and c["model"] for c in ckpts], [c and c["optimizer"] for c in ckpts], data, device
        )
    except NotPackable as exc:
        done = _train_separately(cfgs, runs_dir, device, progress, log, str(exc))
        for i, r in zip(todo, done):
            results[i] = r
        return results  # type: ignore[return-value]
    live = {c.run_id: (runs[i], i) for c, i in zip(cfgs, todo)}
    history = {c.run_id: (ck["history"] if ck else []) for c, ck in zip(cfgs, ckpts)}
    wall = {c.run_id: (ck["wall_time_s"] if ck else 0.0) for c, ck in zip(cfgs, ckpts)}
    for c in cfgs:
        run = live[c.run_id][0]
        run.remove_stale_temp_files()
        run.path.mkdir(parents=True, exist_ok=True)
        engine.write_config(run, c)
        atomic_write_json(run.path / "pack.json", {"packed_with": [x.run_id for x in cfgs], "k": len(cfgs)})
        if history[c.run_id]:
            run.write_metrics(history[c.run_id])  # heal a metrics file that lagged the checkpoint
    epochs = cfgs[0].protocol.epochs
    bar = None
    if progress and interactive():
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start.pop(), desc=f"pack of {len(cfgs)}", unit="ep", leave=False)
    say = log or (bar.write if bar is not None else print)  # whole lines where there is no bar
    try:
        for epoch in range(len(history[cfgs[0].run_id]), epochs):
            if pack is None:
                break
            t0 = time.perf_counter()
            lr = cfgs[0].protocol.lr_at(epoch)
            for group in pack.opt.param_groups:
                group["lr"] = lr
            members = pack.configs
            pack.packed.rng.seed([engine._seed_for(c.seed, epoch, "model") for c in members], device)
            tr = train_packed_epoch(pack.step_model, len(members), pack.opt, data, members, epoch, device)
            # Every member is evaluated (a member diverged in training costs the others nothing): a
            # member whose train, test or validation loss or logit is non-finite is diverged.
            test = evaluate_packed(pack.step_model, len(members), data.test_x, data.test_y, data, cfgs[0], device)
            val = None
            if data.val_x is not None:
                val = evaluate_packed(pack.step_model, len(members), data.val_x, data.val_y, data, cfgs[0], device)
            dt = time.perf_counter() - t0
            recs = [
                {
                    "epoch": epoch + 1,
                    "lr": lr,
                    "train_loss": tr["train_loss"][j],
                    "train_acc": tr["train_acc"][j],
                    "test_loss": test[0][j],
                    "test_acc": test[1][j],
                    "val_acc": None if val is None else val[1][j],
                    "val_loss": None if val is None else val[0][j],
                    "epoch_time_s": round(dt, 3),
                }
                for j in range(len(members))
            ]
            why = [engine.divergence(r) for r in recs]
            diverged = [j for j, w in enumerate(why) if w is not None]
            for j in diverged:
                c = members[j]
                wall[c.run_id] += dt
                say(f"{c.run_id}: {why[j]} in epoch {epoch + 1}: diverged")
                run, i = live.pop(c.run_id)
                results[i] = engine.finish(
                    run, c, "diverged", history[c.run_id], wall[c.run_id], device, diverged_at=epoch + 1, error=why[j]
                )
            model_states, opt_states = pack.member_states() if len(diverged) < len(members) else ([], [])
            for j, c in enumerate(members):
                if j in diverged:
                    continue
                rec = recs[j]
                rec.pop("val_loss")  # checked, not recorded (as train_run)
                wall[c.run_id] += dt
                history[c.run_id].append(rec)
                run = live[c.run_id][0]
                run.save_checkpoint(
                    {
                        "model": model_states[j],
                        "optimizer": opt_states[j],
                        "history": history[c.run_id],
                        "wall_time_s": wall[c.run_id],
                        "run_id": c.run_id,
                        "packed_with": [x.run_id for x in members],
                    }
                )
                run.write_metrics(history[c.run_id])
                say(f"{c.run_id}: {engine.log_epoch(rec, epochs)}")
            if diverged:
                pack = pack.without(diverged, data, device)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test=f"{max(test[1]):.2f}")
    except Exception as exc:  # recorded for every member still training, then re-raised (as train_run)
        for rid, (run, i) in live.items():
            c = configs[i]
            try:
                results[i] = engine.finish(
                    run, c, "failed", history[rid], wall[rid], device, error=f"{type(exc).__name__}: {exc}"
                )
            except OSError:  # a full disk cannot take the record either (as train_run)
                pass
        raise
    finally:
        if bar is not None:
            bar.close()
    for rid, (run, i) in live.items():
        results[i] = engine.finish(run, configs[i], "finished", history[rid], wall[rid], device)
    return results  # type: ignore[return-value]
