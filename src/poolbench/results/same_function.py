"""Columns where every compared pool is the same function: 1x1 final maps (VGG-16-BN, MobileNetV2).

On a 1x1 map a global pool sees one value per channel, and most pools then compute the identity up
to what the classifier absorbs (``pools.one_by_one``). In such a column the pools' differences are
run-to-run noise, so ``results.table`` marks it and stars no best there. A column counts only when
every pool in it is a plain pool (no SAC heads, model surgery or pool file: those change more than
the pool) and the probe says so; anything unknown counts as different.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable


@functools.cache
def _pool_is_identity_on_1x1(pool_name: str, pool_args_json: str) -> str | None:
    """The probe's relation if the pool is the identity up to what the classifier absorbs, else None."""
    from ..pools import build_pool, is_pool
    from ..pools.one_by_one import probe_1x1

    if not is_pool(pool_name):
        return None
    args = json.loads(pool_args_json or "{}")
    try:
        found = probe_1x1(lambda c: build_pool(pool_name, channels=c, **args))
    except Exception:  # a pool we cannot build here (a missing weights file ...): unknown, so different
        return None
    return found.relation if found.same_as_identity else None


def _map_size(model: str) -> tuple[int, int] | None:
    from ..models import final_map_size, list_models

    return final_map_size(model) if model in list_models() else None


def same_function_columns(pools_by_column: dict[str, Iterable[tuple[str, str, str, bool]]]) -> dict[str, str]:
    """{column: why} for the columns where all pools are the same function of their 1x1 map.

    ``pools_by_column``: column -> (model, pool_name, pool_args JSON, plain) of each pool with runs
    there; ``plain`` is False for runs with SAC, model arguments or a pool file. Columns with fewer
    than two pools are left out (nothing is compared there).
    """
    out = {}
    for col, entries in pools_by_column.items():
        entries = list(entries)
        if len(entries) < 2 or not all(plain for *_, plain in entries):
            continue
        if any(_map_size(model) != (1, 1) for model, *_ in entries):
            continue
        relations = [_pool_is_identity_on_1x1(name, args) for _, name, args, _ in entries]
        if all(r is not None for r in relations):
            out[col] = "1x1 map: " + ", ".join(sorted(set(relations)))
    return out
