"""The one pack planner: which runs pack together (can_pack) and in which tasks (plan_packs)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from poolbench.train import Protocol, RunConfig
from poolbench.train.packing import FREE_FIELDS, MUST_AGREE, can_pack, plan_packs
from poolbench.train.resolve import resolve


def fingerprinted(config: RunConfig) -> RunConfig:
    """``config`` resolved with a stand-in fingerprint, one per data selection: no data is read."""
    stand_in = hashlib.sha256(repr(config.data_selection()).encode()).hexdigest()[:16]
    return resolve(dataclasses.replace(config, data_fingerprint=config.data_fingerprint or stand_in))


def changed(config: RunConfig, **changes) -> RunConfig:
    """``config.replace(**changes)``, resolved as the planner's callers resolve."""
    return fingerprinted(config.replace(**changes))


TINY = Protocol(epochs=2, train_subset=64, test_subset=64)
BASE = fingerprinted(RunConfig(model="resnet20", dataset="synthetic", protocol=TINY))


def test_every_field_is_free_or_must_agree():
    names = [f.name for f in dataclasses.fields(RunConfig)]
    assert set(FREE_FIELDS) | set(MUST_AGREE) == set(names) and not set(FREE_FIELDS) & set(MUST_AGREE)
    assert set(FREE_FIELDS) == {"seed", "pool", "pool_args", "pool_file", "pool_file_sha"}


def test_seeds_pools_and_pool_arguments_may_differ():
    runs = [
        changed(BASE, seed=0),
        changed(BASE, seed=1, pool="gem"),
        changed(BASE, seed=0, pool="gem", pool_args={"p": 2}),
    ]
    assert can_pack(runs) == (True, "")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"model": "resnet32"}, "model"),
        ({"dataset": "patterns"}, "dataset"),
        ({"protocol": Protocol(epochs=3, train_subset=64, test_subset=64)}, "protocol"),
        ({"amp": "bf16"}, "amp"),
        ({"val_split": 8}, "val_split"),
        ({"model_args": {"drop_rate": 0.1}}, "model_args"),
        ({"surgery": ({"name": "sgd_downsample", "args": {"layer": 2}},)}, "surgery"),
        ({"pool_reg": 1e-3}, "pool_reg"),
        ({"channels_last": True}, "channels_last"),
        ({"compile": True}, "compile"),
    ],
)
def test_every_other_difference_refuses_and_names_the_field(change, field):
    ok, why = can_pack([BASE, changed(BASE, seed=1, **change)])
    assert not ok and why == f"the runs differ in {field}"


def test_refusal_reasons():
    assert can_pack([BASE]) == (False, "fewer than two runs to pack")
    assert can_pack([BASE, changed(BASE)]) == (False, "the same run appears twice")
    adam = changed(BASE, protocol=dataclasses.replace(TINY, optimizer="adam"))
    ok, why = can_pack([adam, changed(adam, seed=1)])
    assert not ok and "SGD" in why
    sac = changed(BASE, sac={})
    ok, why = can_pack([sac, changed(sac, seed=1)])
    assert not ok and "sac" in why


def test_a_regularised_flexpool_run_without_sac_is_refused_for_its_regulariser_not_for_sac():
    reg = changed(BASE, pool="flex", pool_args={"weighting": "raw"}, pool_reg=1e-3)
    ok, why = can_pack([reg, changed(reg, seed=1)])
    assert not ok and "pool_reg" in why and "auxiliary" not in why


def _ids(tasks):
    return [[(c.model, c.seed) for c in t] for t in tasks]


def test_plan_packs_groups_in_grid_order_at_most_k():
    a = [changed(BASE, seed=s) for s in range(5)]
    b = [changed(BASE, model="resnet32", seed=s) for s in range(3)]
    grid = [a[0], b[0], a[1], b[1], a[2], a[3], b[2], a[4]]  # interleaved, as a sweep's pools x models
    assert _ids(plan_packs(grid, 1)) == [[x] for x in _ids([grid])[0]]
    assert _ids(plan_packs(grid, 2)) == [
        [("resnet20", 0), ("resnet20", 1)],
        [("resnet20", 2), ("resnet20", 3)],
        [("resnet20", 4)],
        [("resnet32", 0), ("resnet32", 1)],
        [("resnet32", 2)],
    ]
    tasks = plan_packs(grid, 8)
    assert _ids(tasks) == [[("resnet20", s) for s in range(5)], [("resnet32", s) for s in range(3)]]
    assert all(c in grid for t in tasks for c in t) and sum(map(len, tasks)) == len(grid)
    assert all(len(t) <= 3 for t in plan_packs(grid, 3))


def test_a_chunk_the_planner_refuses_is_run_by_run():
    sac = [changed(BASE, sac={}, seed=s) for s in range(3)]
    assert _ids(plan_packs(sac, 4)) == [[("resnet20", s)] for s in range(3)]
    twice = [BASE, changed(BASE)]
    assert [len(t) for t in plan_packs(twice, 4)] == [1, 1]
