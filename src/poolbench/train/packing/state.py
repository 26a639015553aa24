"""Between a packed network and its members: model and optimizer state, both ways, exactly.

Model k's tensors are slices of the packed ones (``PackedModel.plan``), so its state_dict is read
off the packed state_dict and written back into it. SGD's state (momentum) is elementwise, so the
same slicing maps one optimizer over the packed parameters to K optimizers over the members' and
back (``build.make_optimizer(member)`` would hold exactly that state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .modules import PackedModel


def _slice(t: torch.Tensor, k: int, how: Any, num: int, shape: torch.Size | None) -> torch.Tensor:
    """Model k's part of a packed tensor (a view where possible)."""
    if how == "split":
        assert shape is not None  # a split slot always records the member's shape
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
    """Each model's optimizer state_dict, as ``build.make_optimizer(member)`` would hold it."""
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
