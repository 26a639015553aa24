"""The pack planner: which runs may share one packed network, and in which groups.

``run``, ``sweep`` and both executors use this one planner. Runs pack when they are K copies of one
network trained one way, differing only in what a packed network keeps per member: the seed
(initialisation, data order, random draws) and the pool (``FREE_FIELDS``). Every other field of
``RunConfig`` must agree, because a pack trains all its members on its first run's data, protocol
and switches.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from ..config import RunConfig

#: What may differ between the runs of one pack (each member keeps its own seed and pool).
FREE_FIELDS = ("seed", "pool", "pool_args", "pool_file", "pool_file_sha")
#: What must agree: every other field of a run's configuration.
MUST_AGREE = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in FREE_FIELDS)


def _agreeing(config: RunConfig) -> dict[str, str]:
    """The must-agree fields of ``config``, each as canonical JSON (dicts compare by content)."""
    d = config.to_dict()
    return {f: json.dumps(d[f], sort_keys=True, default=str) for f in MUST_AGREE}


def _pack_key(config: RunConfig) -> str:
    config.check_resolved()  # runs compare on their data: its fingerprint must be known
    return json.dumps(_agreeing(config), sort_keys=True)


def can_pack(configs: Sequence[RunConfig]) -> tuple[bool, str]:
    """(True, "") when these runs can share one packed network, else (False, why).

    Seeds, pools and pool arguments may differ; everything else must agree, the optimizer must be
    SGD (packing maps SGD's state only) and no run may add a term to its loss (auxiliary
    classifiers, a pool regulariser): the packed step is cross-entropy only. Model-level limits
    (an unknown layer) only show when packing, as ``NotPackable``; the trainer then trains the runs
    one by one.
    """
    configs = list(configs)
    if len(configs) < 2:
        return False, "fewer than two runs to pack"
    if len({c.run_id for c in configs}) < len(configs):  # (resolved configs: ids are pure)
        return False, "the same run appears twice"
    fields = [_agreeing(c) for c in configs]
    for f in MUST_AGREE:
        if len({d[f] for d in fields}) > 1:
            return False, f"the runs differ in {f}"
    if any(c.protocol.optimizer != "sgd" for c in configs):
        return False, "packing maps SGD's optimizer state only (this protocol uses another optimizer)"
    if any(c.sac is not None for c in configs):  # {} is SAC with its defaults
        return False, "auxiliary classifiers (sac) have their own loss, which packing does not implement"
    if any(c.pool_reg is not None for c in configs):
        return (
            False,
            "the pool regulariser (pool_reg) adds a penalty to the loss; the packed step is cross-entropy only",
        )
    return True, ""


def plan_packs(configs: Sequence[RunConfig], k: int) -> list[list[RunConfig]]:
    """The runs as tasks of at most ``k`` mutually packable runs; a task of one is a plain run.
    The configs must be resolved (``train.resolve``): runs pack only on the same data.

    Runs whose must-agree fields are equal form a group (groups in order of their first run, runs in
    grid order within one); each group is cut into chunks of ``k``; a chunk ``can_pack`` refuses (an
    optimizer packing cannot map, auxiliary classifiers, a pool regulariser, a run twice) becomes
    single runs. ``k <= 1`` plans every run on its own without looking at the runs.
    """
    if k <= 1:
        return [[c] for c in configs]
    groups: dict[str, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(_pack_key(c), []).append(c)
    tasks: list[list[RunConfig]] = []
    for group in groups.values():
        for i in range(0, len(group), k):
            chunk = group[i : i + k]
            tasks.extend([chunk] if len(chunk) > 1 and can_pack(chunk)[0] else [[c] for c in chunk])
    return tasks
