"""Grid expansion, seeds, suites, task planning and run status (no training)."""

import pytest

from poolbench.runs import RunDir, atomic_write_json
from poolbench.sweep import SUITES, expand_grid, expand_suite, parse_seeds, run_status
from poolbench.train import Protocol
from poolbench.train.packing import plan_packs
from poolbench.train.resolve import resolve

TINY = Protocol(epochs=2, train_subset=256, test_subset=128)


@pytest.mark.parametrize(
    "spec, seeds",
    [("0-4", [0, 1, 2, 3, 4]), ("0,2,5", [0, 2, 5]), ("3", [3]), ("0-2,7,1", [0, 1, 2, 7]), (" 1 , 2 ", [1, 2])],
)
def test_parse_seeds(spec, seeds):
    assert parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "0-x", ","])
def test_parse_seeds_rejects_nonsense(spec):
    with pytest.raises(ValueError, match="seed"):
        parse_seeds(spec)


def test_expand_grid_is_the_full_product_in_a_stable_order():
    cfgs = expand_grid(["avg", "max"], ["resnet20", "vgg16_bn"], ["synthetic"], [0, 1], TINY)
    assert len(cfgs) == 2 * 2 * 1 * 2
    assert [(c.model, c.pool, c.seed) for c in cfgs[:4]] == [
        ("resnet20", "avg", 0),
        ("resnet20", "avg", 1),
        ("resnet20", "max", 0),
        ("resnet20", "max", 1),
    ]
    assert len({resolve(c).run_id for c in cfgs}) == len(cfgs)
    assert all(c.protocol == TINY for c in cfgs)
    assert [resolve(c).run_id for c in cfgs] == [
        resolve(c).run_id for c in expand_grid(["avg", "max"], ["resnet20", "vgg16_bn"], ["synthetic"], [0, 1], TINY)
    ]


def test_expand_grid_drops_duplicates_by_run_id():
    cfgs = expand_grid(["avg", "avg", "max"], ["resnet20"], ["synthetic"], [0, 0, 1], TINY)
    assert [(c.pool, c.seed) for c in cfgs] == [("avg", 0), ("avg", 1), ("max", 0), ("max", 1)]


def test_pool_args_are_scoped_to_their_pool():
    cfgs = expand_grid(
        ["avg", "gem"], ["resnet20"], ["synthetic"], [0], TINY, pool_args={"gem": {"p": 4}, "*": {"flag": True}}
    )
    args = {c.pool: c.pool_args for c in cfgs}
    assert args == {"avg": {"flag": True}, "gem": {"flag": True, "p": 4}}


def test_common_fields_reach_every_config():
    cfgs = expand_grid(["avg"], ["resnet20"], ["synthetic"], [0, 1], TINY, amp="bf16", val_split=100)
    assert {(c.amp, c.val_split) for c in cfgs} == {("bf16", 100)}


def test_suites_are_the_benchmark_columns():
    cells = {(c.model, c.dataset) for c in expand_suite("benchmark", ["avg"], [0])}
    assert cells == {("resnet56", "cifar100"), ("vgg16_bn", "cifar100"), ("mobilenetv2", "fashion_mnist")}
    c10 = expand_suite("benchmark-cifar10", ["avg", "gem"], [0, 1])
    assert len(c10) == 3 * 2 * 2
    assert {c.dataset for c in c10} == {"cifar10", "fashion_mnist"}
    assert [m for m, _ in SUITES["benchmark"].columns] == [m for m, _ in SUITES["benchmark-cifar10"].columns]


def test_spatial_suite_plans_its_columns():
    cfgs = expand_suite("spatial", ["avg", "max"], [0, 1])
    assert [(c.model, c.dataset) for c in cfgs[::4]] == [
        ("resnet56", "cifar100"),
        ("vgg16_bn_s2", "cifar100"),
        ("mobilenetv2_s4", "fashion_mnist"),
    ]
    assert len(cfgs) == 3 * 2 * 2 and {c.protocol for c in cfgs} == {Protocol()}  # the benchmark's protocol


def test_unknown_suite_lists_the_valid_ones():
    with pytest.raises(ValueError, match="benchmark-cifar10"):
        expand_suite("benchmrk", ["avg"], [0])


def test_plan_packs_packs_only_compatible_runs():
    cfgs = [
        resolve(c) for c in expand_grid(["avg", "max", "gem"], ["resnet20", "resnet32"], ["synthetic"], [0, 1], TINY)
    ]
    assert plan_packs(cfgs, 1) == [[c] for c in cfgs]
    tasks = plan_packs(cfgs, 4)
    assert [len(t) for t in tasks] == [4, 2, 4, 2]
    assert all(len({c.model for c in t}) == 1 for t in tasks)
    assert sorted(c.run_id for t in tasks for c in t) == sorted(c.run_id for c in cfgs)
    # a pack the planner refuses (here: an optimizer whose state packing cannot map) is trained run by run
    adam = [
        resolve(c)
        for c in expand_grid(["avg", "max"], ["resnet20"], ["synthetic"], [0, 1], Protocol(epochs=2, optimizer="adam"))
    ]
    assert plan_packs(adam, 4) == [[c] for c in adam]


def test_runs_differing_in_protocol_are_never_packed():
    a = [resolve(c) for c in expand_grid(["avg"], ["resnet20"], ["synthetic"], [0], TINY)]
    b = [resolve(c) for c in expand_grid(["max"], ["resnet20"], ["synthetic"], [0], Protocol(epochs=3))]
    assert plan_packs(a + b, 8) == [a, b]


def test_run_status(tmp_path):
    new, started, done, diverged, failed = expand_grid(["avg"], ["resnet20"], ["synthetic"], range(5), TINY)
    for cfg, body in (
        (done, {"status": "finished", "best_test_acc": 50.0}),
        (diverged, {"status": "diverged"}),
        (failed, {"status": "failed"}),
    ):
        atomic_write_json(RunDir(tmp_path, resolve(cfg).run_id).result, body | {"run_id": resolve(cfg).run_id})
    RunDir(tmp_path, resolve(started).run_id).path.mkdir()
    assert run_status(started, tmp_path) == "new"  # an empty directory holds nothing to resume
    RunDir(tmp_path, resolve(started).run_id).checkpoint.write_bytes(b"x")
    assert [run_status(c, tmp_path) for c in (new, started, done, diverged, failed)] == [
        "new",
        "resume",
        "done",
        "done",
        "failed",
    ]
