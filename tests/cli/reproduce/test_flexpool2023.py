"""``poolbench reproduce flexpool2023``: the paper's arms as run configs, its numbers, and the layout end to end."""

import pytest

from poolbench.cli import build_parser, main
from poolbench.cli.reproduce import flexpool2023 as fp
from poolbench.train import Protocol

TINY = ["--epochs", "1", "--train-subset", "128", "--test-subset", "64", "--seeds", "0"]


def _plan(*argv):
    args = build_parser().parse_args(["reproduce", "flexpool2023", *argv])
    return args, fp.plan(args)


def test_the_papers_numbers():
    # Table 1 (without SAC) and Table 2 (with SAC), in the order AvgPool / Flex / +Reg / +Reg+Dropout
    assert fp.PAPER[("cifar10", False)] == (91.63, 91.91, 91.87, 92.32)
    assert fp.PAPER[("fashion_mnist", True)] == (93.55, 93.65, 93.48, 93.84)
    assert fp.PAPER[("cifar100", True)][-1] == 65.57 and len(fp.PAPER) == 6


def test_each_arm_is_the_papers_method():
    args, cells = _plan("--synthetic", "--seeds", "42")
    (avg,), (flex,), (reg,), (drop,) = (cells[("synthetic", False, a)] for a in fp.ARMS)
    assert (avg.pool, avg.sac, avg.model_args) == ("avg", None, {})
    assert flex.pool == "flex" and flex.pool_args == {"weighting": "raw"} and flex.sac is None
    # the regulariser is its own field: a +Reg arm without SAC has no auxiliary heads
    assert reg.pool_args == {"weighting": "raw"} and reg.sac is None and reg.pool_reg == 1e-3
    assert drop.model_args == {"drop_rate": 0.25} and (drop.sac, drop.pool_reg) == (reg.sac, reg.pool_reg)
    (sac_avg,), (sac_reg,) = cells[("synthetic", True, "AvgPool")], cells[("synthetic", True, "FlexPool + Reg")]
    assert sac_avg.sac == {"stages": [1, 2], "weights": [0.1, 0.2, 0.7]}  # the paper's Eq. 3
    assert sac_reg.sac == {"stages": [1, 2], "weights": [0.1, 0.2, 0.7]} and sac_reg.pool_reg == 1e-3
    assert all(
        c.model == "resnet20" and c.protocol == Protocol() and c.seed == 42 for cfgs in cells.values() for c in cfgs
    )  # the benchmark's fixed protocol by default
    _, code = _plan("--synthetic", "--sac", "with", "--sac-weights", "code", "--flex-weighting", "softmax")
    assert code[("synthetic", True, "FlexPool")][0].sac["weights"] == [0.01, 0.11, 0.88]
    assert code[("synthetic", True, "FlexPool")][0].pool_args == {"weighting": "softmax"}
    assert code[("synthetic", True, "FlexPool + Reg")][0].pool_args == {"weighting": "raw"}  # R needs raw
    assert [s for _, s, _ in code] == [True] * 4 and len(code[("synthetic", True, "AvgPool")]) == 3


def test_datasets_and_the_paper_protocol_preset():
    _, cells = _plan("--cifar10", "x/cifar10-jpg.tar.gz", "--fashion-mnist", "fm", "--paper-protocol", "--epochs", "2")
    c10 = cells[("cifar10", False, "AvgPool")][0]
    assert (c10.dataset, c10.data_path) == ("imagefolder", "x/cifar10-jpg.tar.gz")
    assert cells[("fashion_mnist", False, "AvgPool")][0].dataset == "fashion_mnist"
    # the authors' code's optimiser, batch and epochs, an explicit flag on top; labelled non-standard
    assert c10.protocol == Protocol(epochs=2, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-4)
    assert not c10.is_standard
    _, official = _plan("--cifar10", "data/cifar-10-python.tar.gz")
    assert official[("cifar10", False, "AvgPool")][0].dataset == "cifar10"


def test_the_default_reg_is_inside_sgds_stability_bound_for_r():
    import torch

    from poolbench.pools import create_pool

    def r(w):  # R (the paper's Eq. 2) for one channel of N raw weights
        return (w.sum() - 1) ** 2

    pool = create_pool("flex", channels=1, weighting="raw", size=(4, 4))
    w = torch.rand(16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pool.logits.copy_(w.view(1, 4, 4))
    assert pool.weight_penalty().item() == pytest.approx(r(w).item())
    # its Hessian, by autograd: top eigenvalue 2N
    top = torch.linalg.eigvalsh(torch.autograd.functional.hessian(r, w)).max()
    assert top.item() == pytest.approx(2 * 16)
    # SGD with momentum m is stable on a quadratic of curvature k iff lr * k < 2 (1 + m); the largest
    # map a ResNet-20 SAC head pools is 32x32
    p = Protocol()
    assert p.lr * fp.REG * 2 * 32 * 32 < 2 * (1 + p.momentum) / 10  # with a 10x margin


def test_no_dataset_is_a_usage_error(capsys):
    assert main(["reproduce", "flexpool2023"]) == 2
    assert "--cifar10 PATH" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_on_synthetic_data_prints_the_layout_and_resumes(tmp_path, capsys):
    argv = ["reproduce", "flexpool2023", "--synthetic", *TINY, "--runs-dir", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "8 runs: 0 skipped (already done), 8 finished" in out
    assert "Table 1: FlexPooling (single classifier)" in out and "Table 2: FlexPooling with SAC" in out
    assert "NON-STANDARD protocol" in out and "FlexPool + Reg + Dropout" in out
    ours = [line for line in out.splitlines() if line.startswith("synthetic (stand-in)")]
    assert len(ours) == 2 and all(line.count("(n=1)") == 4 for line in ours)
    assert main(argv) == 0  # resumable: everything is done now
    assert "8 runs: 8 skipped (already done)" in capsys.readouterr().out
    assert main([*argv, "--table-only", "--sac", "with"]) == 0
    assert "Table 1" not in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["--table-only", "--dry-run"])
def test_an_invalid_result_is_one_line_not_a_number_in_the_table(tmp_path, capsys, mode):
    import json

    from poolbench.runs import RunDir
    from poolbench.train.resolve import resolve

    argv = ["--synthetic", *TINY, "--runs-dir", str(tmp_path), "--no-progress"]
    _, cells = _plan(*argv)
    run_id = resolve(next(iter(cells.values()))[0]).run_id
    RunDir(tmp_path, run_id).path.mkdir()
    result = {"status": "finished", "run_id": run_id, "best_test_acc": float("nan")}
    RunDir(tmp_path, run_id).result.write_text(json.dumps(result))
    assert main(["reproduce", "flexpool2023", *argv, mode]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "best_test_acc nan" in err and run_id in err


def test_the_runs_go_to_the_executor_the_flags_name_with_their_options(tmp_path):
    from poolbench.cli import build_parser
    from poolbench.cli.sweep import executor_from_args
    from poolbench.train.callbacks import CsvLogger

    parse = build_parser().parse_args
    local = executor_from_args(parse(["reproduce", "flexpool2023", "--synthetic", "--no-progress"]))
    assert (local.name, local.pack, local.progress, local.callbacks) == ("local", None, False, [])
    logged = executor_from_args(parse(["reproduce", "flexpool2023", "--synthetic", "--log-csv", str(tmp_path)]))
    assert [type(c) for c in logged.callbacks] == [CsvLogger]
    ray = executor_from_args(parse(["reproduce", "flexpool2023", "--executor", "ray", "--ray-address", "auto"]))
    assert (ray.name, ray.address) == ("ray", "auto")  # nothing starts before run()
