"""poolbench fit-lda on a trained run, then retraining from scratch with the fitted weights."""

from __future__ import annotations

import json

import pytest
import torch

from poolbench.cli import main
from poolbench.pools.lda import load_lda_weights
from tests.cli.seed_runs import tiny_run

RETRAIN = ["--epochs", "1", "--train-subset", "64", "--test-subset", "32", "--device", "cpu", "--no-progress"]


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_fit_final_layer_then_retrain_with_the_lda_pool(tmp_path_factory, tmp_path, capsys):
    run = tiny_run(tmp_path_factory)
    out = tmp_path / "p.pt"
    assert (
        main(["fit-lda", str(run), "--max-per-class", "30", "--alpha", "0.5", "--norm", "l2", "--out", str(out)]) == 0
    )
    p, meta = load_lda_weights(out)
    assert p.shape == (1, 64) and torch.isclose(p.norm(), torch.tensor(1.0))
    assert meta["source_run"] == run.name and meta["layer"] == "final" and meta["alpha"] == 0.5
    trained_on = json.loads((run / "config.json").read_text())["protocol"]["train_subset"]
    assert meta["size"] == [8, 8] and sum(meta["images_per_class"]) <= trained_on and meta["date"]
    assert meta["format"] == 2 and len(meta["channel_mean"]) == 64
    assert "--pool lda --pool-arg weights=" in capsys.readouterr().out
    assert (
        main(
            [
                "fit-lda",
                str(run),
                "--max-per-class",
                "30",
                "--alpha",
                "0.5",
                "--all-train",
                "--out",
                str(tmp_path / "all.pt"),
            ]
        )
        == 0
    )
    assert load_lda_weights(tmp_path / "all.pt")[1]["images_per_class"] == [30] * 10  # the whole training split
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                "--seeds",
                "0",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--pool",
                "lda",
                "--pool-arg",
                f"weights={out}",
                "--runs-dir",
                str(runs),
                *RETRAIN,
            ]
        )
        == 0
    )
    (retrained,) = runs.iterdir()
    assert json.loads((retrained / "result.json").read_text())["status"] == "finished"
    state = torch.load(retrained / "checkpoint.pt", weights_only=False)["model"]
    assert torch.allclose(state["head.pool.p"].flatten(), p.flatten())  # p stayed fixed while retraining


@pytest.mark.slow  # trains: 6-70 s on 2 cores shared with other jobs (pytest --durations)
def test_fit_a_downsampling_then_retrain_with_it(tmp_path_factory, tmp_path):
    run = tiny_run(tmp_path_factory)
    assert main(["fit-lda", str(run), "--layer", "2", "--max-per-class", "10", "--alpha", "5"]) == 0
    p, meta = load_lda_weights(run / "lda_2.pt")
    assert p.shape == (2, 64, 256) and meta["kind"] == "downsample" and meta["out_size"] == [8, 8]
    assert torch.allclose(p.abs().sum(-1), torch.ones(2, 64), atol=1e-5)  # l1 by default
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                "--seeds",
                "0",
                "--model",
                "resnet20",
                "--dataset",
                "synthetic",
                "--lda-layer",
                "2",
                "--lda-weights",
                str(run / "lda_2.pt"),
                "--runs-dir",
                str(runs),
                *RETRAIN,
            ]
        )
        == 0
    )
    (retrained,) = runs.iterdir()
    stored = json.loads((retrained / "config.json").read_text())
    assert stored["surgery"] == [{"name": "lda_downsample", "args": {"layer": 2, "weights": str(run / "lda_2.pt")}}]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--layer", "1", "--n-out", "3"], "keep 2 eigenvectors"),
        (["--layer", "3"], "must be 1..2"),
        (["--norm", "l3"], None),
    ],
)
def test_fit_lda_rejects_bad_requests(tmp_path_factory, capsys, argv, message):
    run = tiny_run(tmp_path_factory)
    if message is None:
        with pytest.raises(SystemExit):
            main(["fit-lda", str(run), *argv])
        return
    assert main(["fit-lda", str(run), "--alpha", "5", *argv]) == 2
    assert message in capsys.readouterr().err
    assert main(["fit-lda", "no-such-run", "--alpha", "5", "--runs-dir", str(run.parent)]) == 2
