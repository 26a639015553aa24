"""Pools that are the same function on a column: 1x1 final maps (VGG-16-BN, MobileNetV2).

On a 1x1 map a global pool sees one value per channel, and most pools then compute the identity up
to what the classifier absorbs (``pools.one_by_one``). Two such pools in one column are one
function there, so which of them has the higher mean is run-to-run noise: ``results.table`` marks
them ``≡``, stars none of them over another, and marks the column when every pool in it is one.

Decided per pool. A run records its pool's 1x1 probe when it starts (``config.json`` ``pool_1x1``,
written by ``train.recorder``), so a pool file counts like any pool without this reader importing
it; a registry pool of a run made before the record existed is probed here by name; a pool file
without the record, a pool with model arguments or SAC heads (they change more than the pool) and
anything unknown count as different.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import NamedTuple


class PoolInColumn(NamedTuple):
    model: str
    pool_name: str
    pool_args: str  # JSON
    surgery: bool  # model arguments or SAC heads
    pool_file: str | None
    recorded: str | None  # the run's recorded 1x1 probe (JSON), if any


@functools.cache
def _probe_registry_pool(pool_name: str, pool_args_json: str) -> str | None:
    """The probe's relation if a registry pool is the identity up to what the classifier absorbs."""
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


def relation_on_1x1(entry: PoolInColumn) -> str | None:
    """The relation ("x", "2 x", "max(x, 1e-06)" ...) if this pool is the identity up to what the
    classifier absorbs on this column's 1x1 map; None if not, or not known, or the map is not 1x1."""
    if entry.surgery or _map_size(entry.model) != (1, 1):
        return None
    if entry.recorded:
        try:
            rec = json.loads(entry.recorded)
        except ValueError:
            return None
        return str(rec.get("relation")) if rec.get("same_as_identity") is True else None
    if entry.pool_file:
        return None  # never imported by a reader: without the run's record it is unknown
    return _probe_registry_pool(entry.pool_name, entry.pool_args)


def same_function_pools(pools_by_column: Mapping[str, Mapping[str, PoolInColumn]]) -> dict[str, dict[str, str]]:
    """{column: {pool label: relation}} of the pools that are one function there (two or more per
    column; a lone identity-like pool has no twin to be confused with)."""
    out = {}
    for col, pools in pools_by_column.items():
        same = {label: rel for label, entry in pools.items() if (rel := relation_on_1x1(entry)) is not None}
        if len(same) > 1:
            out[col] = same
    return out
