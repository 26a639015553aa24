"""``poolbench demo`` end to end on a tiny setting: leaderboard printed, learning-curve PNG written."""

import pytest
from PIL import Image

from poolbench.cli import main


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_demo_prints_a_leaderboard_and_writes_learning_curves(tmp_path, capsys):
    out = tmp_path / "demo"
    args = [
        "demo",
        "--pools",
        "avg,flex",
        "--epochs",
        "1",
        "--train-subset",
        "128",
        "--test-subset",
        "64",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "non-standard" in text and "avg" in text and "flex" in text and "(n=1)" in text
    png = out / "learning_curves.png"
    with Image.open(png) as im:
        assert im.size[0] > 100 and len(im.convert("L").getcolors(1 << 16) or []) > 2  # a real figure, not blank
    assert main(args) == 0  # a second call skips the finished runs
    assert "2 skipped" in capsys.readouterr().out


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_demo_takes_a_pool_file_beside_the_pool_names(tmp_path, capsys):
    """`demo --pools avg,file.py` trains the pool file's CustomPool as one more column (a path is not a pool name)."""
    from pathlib import Path

    pool = Path(__file__).resolve().parents[2] / "examples" / "custom_pool.py"
    out = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--pools",
                f"avg,{pool}",
                "--epochs",
                "1",
                "--train-subset",
                "64",
                "--test-subset",
                "32",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "2 finished, 0 diverged, 0 failed" in text and "custom_pool.py:CustomPool@" in text


@pytest.mark.slow
def test_default_demo_trains_every_pool_above_chance(tmp_path, capsys):
    """The demo as `make demo` runs it (about a CPU minute): every pool finishes, none diverges, none at chance."""
    import json

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "4 finished, 0 diverged, 0 failed" in text and "cnn4-patterns" in text
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert sorted(json.loads((r / "config.json").read_text())["pool"] for r in runs) == ["avg", "flex", "gem", "max"]
    assert all(
        json.loads((r / "result.json").read_text())["best_test_acc"] > 50 for r in runs
    )  # chance is 25% (4 balanced classes)
