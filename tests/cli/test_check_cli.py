"""``poolbench check`` in-process: one pool, a user's file pool, --all, and usage errors."""

from pathlib import Path

import pytest

from poolbench.cli import main
from poolbench.pools.loader import load_pool_file

BROKEN = Path(__file__).resolve().parents[2] / "examples" / "broken_std_pool.py"


def test_check_one_pool_prints_a_row_per_check(capsys):
    assert main(["check", "gem", "--no-compile", "--no-onnx"]) == 0
    out = capsys.readouterr().out
    for row in (
        "shape C=1280",
        "finite: zeros",
        "finite: huge",
        "bf16 autocast",
        "channels_last",
        "non-contiguous",
        "train/eval",
        "state_dict",
    ):
        assert any(line.startswith(row) and " pass" in line for line in out.splitlines()), row
    assert "gem: passed" in out and "torch.compile" not in out


def test_broken_file_pool_fails_naming_the_1x1_map(capsys):
    assert main(["check", f"{BROKEN}:CustomPool", "--no-compile", "--no-onnx"]) == 1
    out = capsys.readouterr().out
    # one cause, one row: the six finite checks fail alike and are one row naming them all
    line = next(line for line in out.splitlines() if line.startswith("finite: "))
    assert line.startswith("finite: zeros, constant, huge, tiny, negative, random ")
    assert "FAIL" in line and "NaN output on 1x1 map" in line
    assert out.count("NaN output on 1x1 map; NaN input gradient on 1x1 map") == 1
    assert f"{BROKEN}:CustomPool: FAILED (8 contract checks, all on 1x1 map only)" in out
    # what the pool computes on a 1x1 map: nothing (NaN), not "another function of x"
    assert "another function" not in out and "NaN output: no function of x" in out


def test_check_all_summarises_each_pool_and_the_reasons(monkeypatch, capsys):
    # Every registered pool is checked in tests/pools/test_contract.py; here a small registry with
    # one broken pool shows the summary, the failing reasons and the exit status.
    from poolbench import pools

    entries = {n: pools.get_pool_class(n) for n in ("avg", "flex", "cov")}
    entries["broken_std"] = load_pool_file(f"{BROKEN}:CustomPool")
    monkeypatch.setattr(pools._POOLS, "_entries", entries)
    assert main(["check", "--all", "--no-compile", "--no-onnx", "--channels", "64"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["pool", "result", "checks", "time"] and "on a 1x1 map" in lines[0]
    summary = {line.split()[0]: line.split()[1:3] for line in lines[1:] if not line.startswith(" ")}
    assert summary["avg"] == ["pass", "14/14"] and summary["flex"] == ["pass", "14/14"]
    assert next(line for line in lines if line.startswith("avg ")).endswith("x: the identity")
    cov = next(line for line in lines if line.startswith("cov "))  # a long "(1 not fatal)" note, then a space
    assert summary["cov"][0] == "pass" and "(1 not fatal) " in cov and cov.endswith("a constant: not the identity")
    assert summary["broken_std"][0] == "FAIL"
    i = next(i for i, line in enumerate(lines) if line.startswith("broken_std"))  # its reasons follow it
    reasons = [line for line in lines[i + 1 :] if "FAIL finite: " in line]
    assert len(reasons) == 1 and "random: NaN output on 1x1 map" in reasons[0]  # one line per cause
    assert lines[-1] == "3/4 pools pass the contract"


def test_pool_args_reach_the_pool(capsys):
    assert (
        main(["check", "flex", "--pool-arg", "per_channel=false", "--channels", "64", "--no-compile", "--no-onnx"]) == 0
    )
    assert "35 saved values" in capsys.readouterr().out  # shared: 7 x 5 logits (per channel: 64 x 7 x 5)
    assert main(["check", "flex", "--pool-arg", "weighting=raw", "--channels", "64", "--no-compile", "--no-onnx"]) == 0
    out = capsys.readouterr().out
    assert "2240 saved values" in out
    assert "1x1 map           info    x at init, a_c x (one factor per channel) once trained" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "gemm"], "unknown pool 'gemm'; valid names: "),
        (["check"], "give one pool"),
        (["check", "gem", "--all"], "give one pool"),
        (["check", "missing.py:CustomPool"], "pool file not found"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "harness"])
@pytest.mark.parametrize("kind", ["syntax", "raises", "no_class"])
def test_a_pool_file_that_cannot_be_loaded_is_its_own_file_line_and_error_and_exit_2(tmp_path, capsys, command, kind):
    source, line, error = {
        "syntax": ("import torch\nclass CustomPool(torch.nn.Module)\n    pass\n", 2, "SyntaxError: expected ':'"),
        "raises": ('import torch\n\nraise RuntimeError("boom at import")\n', 3, "RuntimeError: boom at import"),
        "no_class": ("import torch\nclass Other(torch.nn.Module):\n    pass\n", None, "has no class 'CustomPool'"),
    }[kind]
    path = tmp_path / "my_pool.py"
    path.write_text(source)
    argv = [command, str(path), "--no-compile", "--no-onnx"]
    if command == "harness":
        argv = [command, str(path), "--arch", "resnet20", "--dataset", "synthetic", "--runs-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and error in err and (line is None or f"line {line}" in err)
    assert "Traceback" not in err and "importlib" not in err and "/poolbench/" not in err
    assert len(err.splitlines()) <= 6
    assert not (tmp_path / "r").exists()  # nothing was trained or written
