"""Paper surgery: a change a paper makes to a built model, registered by name like the pools.

A run asks for surgery in ``RunConfig.surgery``, a tuple of ``{"name": NAME, "args": {...}}``
entries applied in order to the model ``create_model`` built (the zoo knows no paper). Each entry
is a ``Surgery`` in the registry below: its function, the arguments it takes, which of them name a
file of learned weights (that file's sha256 joins the run's identity, ``RunConfig.weight_files``)
and the ``model_args`` key under which runs recorded the argument before surgery was declared
(``train.stored_layout`` hashes a run's identity in that layout, so those runs keep their ids).

    lda_downsample  closed-form learned pooling in place of stride-2 downsamplings
                    (Birodkar et al. 2019, Sec. 3.6; ``lda/downsample.py``)
    sgd_downsample  the same pooling map learned by SGD (the paper's Table 4; ``lda/learned.py``)

A new surgery is one decorated function here: ``@register_surgery(NAME, source=..., args=(...))``.
Its builder raises ``BuildError`` naming the argument at fault; ``apply_surgery`` names the field
(``surgery.NAME.ARG``) so the command line can name the flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..build_error import BuildError, Problem
from ..registry import Registry

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass(frozen=True)
class SurgeryArg:
    """One argument of a surgery."""

    name: str
    doc: str
    required: bool = True
    weight_file: bool = False  # names a file (or a list of files) of learned weights
    stored_as: str | None = None  # the model_args key runs recorded it under before surgery was declared


@dataclass(frozen=True)
class Surgery:
    """A registered surgery: ``apply(model, **args)`` changes the built model (in place) and returns it."""

    name: str
    source: str
    args: tuple[SurgeryArg, ...]
    apply: Callable[..., nn.Module]

    def arg(self, name: str) -> SurgeryArg | None:
        return next((a for a in self.args if a.name == name), None)


_SURGERY = Registry("surgery")


def register_surgery(name: str, source: str, args: Sequence[SurgeryArg]) -> Callable:
    """Decorator: register ``apply(model, **args) -> model`` as the surgery ``name``."""

    def wrap(apply: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _SURGERY.register(name)(Surgery(name, source, tuple(args), apply))
        return apply

    return wrap


def get_surgery(name: str) -> Surgery:
    """The registered surgery ``name``; ValueError listing the valid names for any other."""
    return _SURGERY.get(name)  # type: ignore[return-value]  # the registry holds Surgery records


def list_surgeries() -> list[str]:
    return _SURGERY.list()


def entry(name: str, **args: Any) -> dict[str, Any]:
    """One ``RunConfig.surgery`` entry: ``entry("lda_downsample", layer=2, weights="w.pt")``."""
    return {"name": name, "args": dict(args)}


def surgery_problems(entries: Iterable[Any]) -> list[Problem]:
    """What is wrong with ``entries`` before any model is built: an unknown name (listing the
    valid ones), an argument the surgery does not take, a required one missing, a name twice."""
    out: list[Problem] = []
    seen: set[str] = set()
    valid = ", ".join(list_surgeries())
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("args", {}), dict):
            out.append(Problem("surgery", e, "not a surgery entry", 'give {"name": NAME, "args": {...}}'))
            continue
        name, args = e["name"], e.get("args", {})
        if name not in _SURGERY:
            out.append(Problem(f"surgery.{name}", args, f"unknown surgery {name!r}", f"use one of {valid}"))
            continue
        if name in seen:
            out.append(Problem(f"surgery.{name}", args, f"{name} is asked for twice", "give it once (lists of layers)"))
        seen.add(name)
        s = get_surgery(name)
        takes = ", ".join(a.name for a in s.args)
        for key, value in args.items():
            if s.arg(key) is None:
                out.append(
                    Problem(f"surgery.{name}.{key}", value, f"{name} takes no argument {key!r}", f"it takes {takes}")
                )
        for a in s.args:
            if a.required and args.get(a.name) is None:
                out.append(
                    Problem(f"surgery.{name}.{a.name}", None, f"{name} needs {a.name} ({a.doc})", f"give {a.name}")
                )
    return out


def apply_surgery(model: nn.Module, entries: Iterable[dict[str, Any]]) -> nn.Module:
    """``model`` with each entry's surgery applied, in order. A builder's ``BuildError`` is renamed
    to the field (``surgery.NAME.ARG``); any other failure names the entry."""
    for e in entries:
        name, args = e["name"], dict(e.get("args", {}))
        s = get_surgery(name)
        try:
            model = s.apply(model, **args)
        except BuildError as err:
            raise err.at(f"surgery.{name}.{err.field}") from err
        except Exception as err:  # noqa: BLE001 - any other failure of this entry, named by its field
            raise BuildError(
                f"surgery.{name}",
                args,
                f"{type(model).__name__} cannot take it ({type(err).__name__}: {err})",
                f"fix its arguments ({s.source})",
            ) from err
    return model


def weight_files(entries: Iterable[dict[str, Any]]) -> dict[str, str]:
    """{key: path} for every weights file the entries read. The key is where the run's identity
    holds the path: ``model_args.lda_weights`` (``[i]`` for several), as runs always recorded it."""
    out: dict[str, str] = {}
    for e in entries:
        if not isinstance(e, dict) or str(e.get("name")) not in _SURGERY:
            continue  # an unknown entry is surgery_problems' to report
        for a in get_surgery(e["name"]).args:
            value = (e.get("args") or {}).get(a.name)
            if not a.weight_file or value is None:
                continue
            key = f"model_args.{a.stored_as}" if a.stored_as else f"surgery.{e['name']}.{a.name}"
            if isinstance(value, (list, tuple)):  # several replaced layers, one file each
                out.update({f"{key}[{i}]": str(v) for i, v in enumerate(value)})
            else:
                out[key] = str(value)
    return out


# ----------------------------------------------------------------------------- the registered surgery
BIRODKAR = "Birodkar, Mobahi, Krishnan & Bengio 2019"


@register_surgery(
    "lda_downsample",
    source=f"{BIRODKAR}, Sec. 3.6; weights from poolbench fit-lda",
    args=(
        SurgeryArg("layer", "the stride-2 downsampling to replace, 1-based; a list for several", stored_as="lda_layer"),
        # not required here: without it the builder names the layers that lack a file (``layer``)
        SurgeryArg(
            "weights",
            "the fitted weights file (poolbench fit-lda), one per layer",
            required=False,
            weight_file=True,
            stored_as="lda_weights",
        ),
    ),
)
def lda_downsample(model: nn.Module, layer: Any, weights: Any = None) -> nn.Module:
    """Closed-form learned pooling in place of the downsampling(s) ``layer`` (``lda/downsample.py``)."""
    from ..lda.downsample import with_lda_downsampling

    return with_lda_downsampling(model, layer, weights)


@register_surgery(
    "sgd_downsample",
    source=f"{BIRODKAR}, Sec. 3.6 'Learning Pooling by SGD' and Table 4",
    args=(SurgeryArg("layer", "the stride-2 downsampling to replace, 1-based", stored_as="sgd_pool_layer"),),
)
def sgd_downsample(model: nn.Module, layer: Any) -> nn.Module:
    """The same pooling map learned by SGD in place of the downsampling ``layer`` (``lda/learned.py``)."""
    from ..lda.learned import with_sgd_downsampling

    return with_sgd_downsampling(model, layer)
