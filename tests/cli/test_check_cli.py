"""``poolbench check`` in-process: one pool, a user's file pool, --all, and usage errors."""
from pathlib import Path

import pytest

from poolbench.cli import main
from poolbench.pools import list_pools

BROKEN = Path(__file__).resolve().parents[2] / "examples" / "broken_std_pool.py"


def test_check_one_pool_prints_a_row_per_check(capsys):
    assert main(["check", "gem", "--no-compile", "--no-onnx"]) == 0
    out = capsys.readouterr().out
    for row in ("shape C=1280", "finite: zeros", "finite: huge", "bf16 autocast", "channels_last",
                "non-contiguous", "train/eval", "state_dict"):
        assert any(line.startswith(row) and " pass" in line for line in out.splitlines()), row
    assert "gem: passed" in out and "torch.compile" not in out


def test_broken_file_pool_fails_naming_the_1x1_map(capsys):
    assert main(["check", f"{BROKEN}:CustomPool", "--no-compile", "--no-onnx"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("finite: random"))
    assert "FAIL" in line and "NaN output on 1x1 map" in line
    assert f"{BROKEN}:CustomPool: FAILED" in out


def test_check_all_summarises_every_pool(capsys):
    assert main(["check", "--all", "--no-compile", "--no-onnx", "--channels", "64"]) == 0
    out = capsys.readouterr().out
    for name in list_pools():
        assert any(line.split()[:2] == [name, "pass"] for line in out.splitlines()), name
    assert f"{len(list_pools())}/{len(list_pools())} pools pass the contract" in out


def test_pool_args_reach_the_pool(capsys):
    assert main(["check", "flex", "--pool-arg", "per_channel=true", "--channels", "64", "--no-compile",
                 "--no-onnx"]) == 0
    assert "64 saved values" not in capsys.readouterr().out  # per channel: 64 x H x W logits


@pytest.mark.parametrize("argv, message", [
    (["check", "gemm"], "unknown pool 'gemm'; valid names: "),
    (["check"], "give one pool"),
    (["check", "gem", "--all"], "give one pool"),
    (["check", "missing.py:CustomPool"], "pool file not found"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
