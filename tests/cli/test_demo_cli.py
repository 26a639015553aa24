"""``poolbench demo`` end to end on a tiny setting: leaderboard printed, learning-curve PNG written."""
from PIL import Image

from poolbench.cli import main


def test_demo_prints_a_leaderboard_and_writes_learning_curves(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--pools", "avg,flex", "--epochs", "1", "--train-subset", "128", "--test-subset", "64",
            "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "non-standard" in text and "avg" in text and "flex" in text and "(n=1)" in text
    png = out / "learning_curves.png"
    with Image.open(png) as im:
        assert im.size[0] > 100 and len(im.convert("L").getcolors(1 << 16) or []) > 2  # a real figure, not blank
    assert main(args) == 0  # a second call skips the finished runs
    assert "2 skipped" in capsys.readouterr().out
