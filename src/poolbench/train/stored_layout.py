"""The layout a run's identity is hashed in, for surgery and the pool regulariser.

Before they were their own fields, runs recorded paper surgery as ``model_args`` keys
(``lda_layer``, ``lda_weights``, ``sgd_pool_layer``: each surgery argument's ``stored_as``) and the
pool regulariser inside ``sac`` (``sac["pool_reg"]``; without auxiliary heads,
``sac = {"stages": [], "weights": [1.0], "pool_reg": r}``), and their run ids hash that layout.
``identity_layout`` writes a config dict that way, so such a run keeps its id and the same run
asked for with the new fields gets the same id; ``declared_layout`` reads either layout (an old
config.json) into the fields ``RunConfig`` has now.

Surgery that old runs could not express (a surgery without a ``stored_as`` for every argument, or
several entries in another order than the registry's) stays a ``surgery`` list in the identity.
"""

from __future__ import annotations

import copy
from typing import Any

from .surgery import get_surgery, list_surgeries

#: ``sac`` for the regulariser alone, as runs recorded it (no auxiliary heads, main weight 1).
NO_HEADS: dict[str, Any] = {"stages": [], "weights": [1.0]}


def _stored_keys() -> dict[str, tuple[str, str]]:
    """{model_args key: (surgery name, argument)} for every argument with a stored name."""
    return {a.stored_as: (n, a.name) for n in list_surgeries() for a in get_surgery(n).args if a.stored_as}


def _expressible(entries: list[dict[str, Any]]) -> bool:
    """Whether old runs' layout can hold ``entries``: each a known surgery once, every argument with
    a stored name, in the registry's order (the order old runs applied them in)."""
    names = [str(e.get("name")) for e in entries]
    order = list_surgeries()
    if len(set(names)) != len(names) or any(n not in order for n in names):
        return False
    if names != sorted(names, key=lambda n: order.index(n)):
        return False
    return all(
        (a := get_surgery(e["name"]).arg(k)) is not None and a.stored_as for e in entries for k in e.get("args", {})
    )


def stored_model_args(model_args: dict[str, Any], surgery: list[dict[str, Any]] | tuple) -> dict[str, Any]:
    """``model_args`` with each surgery argument under its stored name (what labels and ids show)."""
    out = dict(model_args)
    for e in surgery:
        for key, value in e.get("args", {}).items():
            a = get_surgery(e["name"]).arg(key)
            if a is not None and a.stored_as:
                out[a.stored_as] = value
    return out


def identity_layout(d: dict[str, Any]) -> dict[str, Any]:
    """A ``RunConfig.to_dict()`` in the layout run ids are hashed in (see the module docstring)."""
    d = copy.deepcopy(d)
    entries = list(d.pop("surgery", None) or [])
    if entries and _expressible(entries):
        d["model_args"] = stored_model_args(d.get("model_args") or {}, entries)
    elif entries:
        d["surgery"] = entries
    pool_reg = d.pop("pool_reg", None)
    if pool_reg is not None:
        sac = d.get("sac")
        d["sac"] = dict(sac if isinstance(sac, dict) else NO_HEADS, pool_reg=pool_reg)
    return d


def declared_layout(d: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict in today's fields: surgery out of ``model_args`` (a config.json written
    before ``surgery`` existed), the regulariser out of ``sac``. A dict already in today's layout
    comes back as it is."""
    d = dict(d)
    if "surgery" not in d:
        model_args = dict(d.get("model_args") or {})
        args: dict[str, dict[str, Any]] = {}
        for key, (name, arg) in _stored_keys().items():
            if key in model_args:
                args.setdefault(name, {})[arg] = model_args.pop(key)
        d["model_args"] = model_args
        d["surgery"] = [{"name": n, "args": args[n]} for n in list_surgeries() if n in args]
    sac = d.get("sac")
    if isinstance(sac, dict) and "pool_reg" in sac:
        sac = dict(sac)
        if d.get("pool_reg") is None:
            d["pool_reg"] = sac["pool_reg"]
        del sac["pool_reg"]
        d["sac"] = None if sac == NO_HEADS else sac
    return d
