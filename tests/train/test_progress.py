"""What a run says: projected time, resumed / already done, Ctrl-C, whole lines."""

from __future__ import annotations

import json

import pytest
import torch

from poolbench.cli import main
from poolbench.train import loop, progress

TINY = [
    "--seeds",
    "0",
    "--model",
    "resnet20",
    "--dataset",
    "synthetic",
    "--train-subset",
    "96",
    "--test-subset",
    "32",
    "--batch-size",
    "16",
    "--device",
    "cpu",
]


@pytest.mark.slow  # trains real runs: 4-16 s on 2 cores
def test_run_projects_its_wall_time_and_says_already_done(tmp_path, capsys):
    assert main(["run", *TINY, "--epochs", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "projected" in out and "for 1 epochs" in out and "6 steps/epoch" in out
    assert "\r" not in out  # not a terminal: whole lines, no progress-bar carriage returns
    assert main(["run", *TINY, "--epochs", "1", "--runs-dir", str(tmp_path)]) == 0
    assert "already done (finished, best test acc" in capsys.readouterr().out


@pytest.mark.slow  # trains real runs: 4-16 s on 2 cores
def test_ctrl_c_is_one_line_on_how_to_resume_then_the_run_resumes(tmp_path, capsys, monkeypatch):
    real = loop.evaluate
    calls = {"n": 0}

    def interrupt_in_epoch_2(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(loop, "evaluate", interrupt_in_epoch_2)
    assert main(["run", *TINY, "--epochs", "2", "--runs-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted in epoch 2 of 2" in err[0] and "Run the same command again" in err[0]
    assert not list(tmp_path.glob("*/result.json"))  # not recorded as failed
    monkeypatch.setattr(loop, "evaluate", real)
    assert main(["run", *TINY, "--epochs", "2", "--runs-dir", str(tmp_path)]) == 0
    assert "resumed from epoch 1 (of 2)" in capsys.readouterr().out
    (result,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/result.json")]
    assert result["status"] == "finished" and result["epochs_completed"] == 2


@pytest.mark.slow  # trains real runs: 4-16 s on 2 cores
def test_a_sweep_with_no_progress_prints_one_line_per_epoch(tmp_path, capsys):
    assert (
        main(
            [
                "sweep",
                "--seeds",
                "0",
                "--pools",
                "avg",
                "--models",
                "resnet20",
                "--datasets",
                "synthetic",
                "--epochs",
                "2",
                "--train-subset",
                "64",
                "--test-subset",
                "32",
                "--no-progress",
                "--runs-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "epoch   1/2" in out and "epoch   2/2" in out and "\r" not in out


def test_show_from_another_directory_finds_a_relative_data_path(tmp_path, monkeypatch):
    """A run started in `project/` with `--data-path imgs` stores a relative path in old configs."""
    import numpy as np
    from PIL import Image

    from poolbench.cli._trained import locate_data
    from poolbench.train import RunConfig

    project = tmp_path / "project"
    for split in ("train", "test"):
        for c in ("a", "b"):
            (project / "imgs" / split / c).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(project / "imgs" / split / c / "0.png")
    run_dir = project / "runs" / "some-run"
    run_dir.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # elsewhere
    cfg = locate_data(RunConfig(model="resnet20", dataset="imagefolder", data_path="imgs"), run_dir)
    assert cfg.data_path == str((project / "imgs").resolve())
    with pytest.raises(ValueError, match="relative and found neither here"):
        locate_data(RunConfig(model="resnet20", dataset="imagefolder", data_path="nowhere"), run_dir)


class Terminal:
    """stdout and stderr of a terminal: one screen, both streams written to it in order."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_a_logged_line_clears_the_bar_first_and_the_bar_comes_back(monkeypatch):
    """``run`` logs its epoch lines with print (stdout) while tqdm draws on stderr: without clearing
    the bar, a line lands after the bar's text on the same screen line."""
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setattr("sys.stderr", screen)
    bar = progress.Progress("run", total=3, initial=0, enabled=True, log=print)
    assert bar.bar is not None
    bar.advance(test="10.00")
    drawn = screen.text
    bar.say("epoch   1/3 lr 0.1000 ...")
    before, _, after = screen.text[len(drawn) :].partition("epoch   1/3")
    assert before.endswith("\r") and before.strip(" \r\x1b[A") == ""  # the bar's line was cleared, nothing else
    assert "run" in after  # and drawn again below the line
    bar.close()


def test_the_projection_is_said_again_after_the_first_whole_epoch():
    said = []
    timer = progress.StepTimer(10, 200, torch.device("cpu"), said.append, "r")
    timer.epoch_done(12.0, 199)
    assert said == ["r: projected 40 min for the 199 epochs left (12.0 s for the first epoch, evaluation included)"]
    timer.epoch_done(12.0, 0)  # a one-epoch run: nothing is left to project
    assert len(said) == 1
