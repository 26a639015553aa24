"""``poolbench reproduce birodkar2019`` end to end on tiny synthetic data: baseline, CV, fit, retrain, table."""

from __future__ import annotations

import pytest

from poolbench.cli import main
from poolbench.cli.reproduce import birodkar2019 as repro


@pytest.fixture
def tiny_setting(monkeypatch):
    setting = repro.Setting("cnn4", "synthetic", "birodkar2019-cnn-svhn", 0.02, 0.5, model_args=(("width", 4),))
    monkeypatch.setitem(repro.SETTINGS, "cnn-synthetic", setting)
    return setting


@pytest.mark.slow
def test_workflow_runs_resumes_and_reports(tiny_setting, tmp_path, capsys):
    argv = [
        "reproduce",
        "birodkar2019",
        "cnn-synthetic",
        "--seeds",
        "0,1",
        "--folds",
        "2",
        "--layers",
        "2,3",
        "--alphas",
        "5",
        "--norms",
        "l1",
        "--epochs",
        "1",
        "--test-subset",
        "50",
        "--runs-dir",
        str(tmp_path),
        "--device",
        "cpu",
        "--sgd-pooling",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| cnn-synthetic"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3].endswith("(n=2)") and cells[7].endswith("(n=2)") and cells[10].endswith("(n=2)")
    assert cells[5].split(" / ")[0] in ("2nd", "3rd") and cells[5].endswith("/ 5 / l1")
    assert "preset=birodkar2019-cnn-svhn" in out and "holdout" not in row and "2 folds" in out
    runs = sorted(p.name for p in tmp_path.iterdir() if (p / "result.json").exists())
    assert len(runs) == 12, runs
    # 2 baselines + 2 fold baselines + 2 folds x 2 layers + 2 replaced + 2 SGD-learned
    assert len(runs) == 12
    weights = sorted(p.name for p in (tmp_path / "birodkar2019-weights" / "cnn-synthetic").iterdir())
    assert len(weights) == 5 and any(w.startswith("full-") for w in weights)
    assert main(argv + ["--report-only", "--figures", str(tmp_path / "fig")]) == 0  # resumable: nothing new
    out = capsys.readouterr().out
    assert row in out and "per-class-pooled.png" in out
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "cnn-synthetic-per-class-pooled.png",
        "cnn-synthetic-pooling-map-copy0.png",
        "cnn-synthetic-pooling-map-copy1.png",
    ]
    assert len([p for p in tmp_path.iterdir() if (p / "result.json").exists()]) == 12


def test_report_only_on_nothing_and_bad_names(tiny_setting, tmp_path, capsys):
    assert (
        main(
            [
                "reproduce",
                "birodkar2019",
                "cnn-synthetic",
                "--report-only",
                "--runs-dir",
                str(tmp_path),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| cnn-synthetic | cnn4 width=4 | synthetic (2%) | - |" in out and "not in paper" in out
    assert not any(tmp_path.iterdir())
    assert main(["reproduce", "birodkar2019", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "unknown setting" in capsys.readouterr().err


def test_choice_needs_every_fold_of_every_grid_point():
    grid = [(2, 5.0, "l1"), (3, 5.0, "l1"), (3, 25.0, "l2")]
    cv = {
        "baseline": {0: 10.0, 1: 12.0},
        (2, 5.0, "l1"): {0: 8.0, 1: 9.0},
        (3, 5.0, "l1"): {0: 5.0},
        (3, 25.0, "l2"): {0: 9.0, 1: 8.5},
    }
    assert repro.choose(cv, 2, grid) is None  # (3, 5, l1) lacks fold 1: no choice yet
    cv[(3, 5.0, "l1")][1] = 6.0
    assert repro.choose(cv, 2, grid) == (3, 5.0, "l1")
    cv[(2, 5.0, "l1")][1] = None  # a diverged or unfinished run
    assert repro.choose(cv, 2, grid) is None
    assert repro.choose({"baseline": {0: 1.0}}, 2, grid) is None


def test_runs_held_by_other_processes_make_the_command_say_so_not_exit_0(tiny_setting, tmp_path, capsys, monkeypatch):
    import contextlib

    from poolbench.executors import claims

    @contextlib.contextmanager
    def held_elsewhere(path):
        yield False

    monkeypatch.setattr(claims, "claimed", held_elsewhere)  # every run and every fit
    argv = ["reproduce", "birodkar2019", "cnn-synthetic", "--seeds", "0", "--folds", "1", "--epochs", "1"]
    assert main(argv + ["--runs-dir", str(tmp_path), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "held by other live processes" in err and "again" in err


def test_the_reproduction_trains_through_the_executor_and_fits_without_the_command_line(
    tiny_setting, tmp_path, monkeypatch
):
    """Runs go to the local executor's task worker, the fits to ``lda.fit_layer``; ``cli.main`` is
    never called from inside (stand-ins for the engine and the fit's numerics keep it fast)."""
    from types import SimpleNamespace

    import poolbench.cli
    import poolbench.executors.base as base
    from poolbench.cli import _trained
    from poolbench.lda import fit_layer
    from tests.sweep.fakes import FakeEngine

    def ModelConfig():  # noqa: N802 - what load_trained's config gives the fit's note
        return SimpleNamespace(model="cnn4", dataset="synthetic")

    engine, tasks, fits, task_body = FakeEngine(), [], [], base.run_task

    def recording(configs, runs_dir, **options):
        tasks.append(len(configs))
        return task_body(configs, runs_dir, **options)

    def fake_engine_run(config, runs_dir, device=None, progress=True, callbacks=()):
        result = engine.run(config, runs_dir)
        return dict(result, final_val_acc=50.0)  # a CV fold's held-out accuracy

    def save(path, shape, p, meta):
        fits.append((meta["source_run"], shape.layer, meta["alpha"]))
        path.write_bytes(b"weights")
        return path

    monkeypatch.setattr(base, "run_task", recording)
    monkeypatch.setattr(base, "train_run", fake_engine_run)
    monkeypatch.setattr(_trained, "load_trained", lambda run, device=None: (ModelConfig(), None, None))
    monkeypatch.setattr(fit_layer, "layer_shape", lambda model, data, layer: fit_layer.LayerShape(layer, 8, 8, 8, 2))
    monkeypatch.setattr(fit_layer, "fit_layer", lambda model, data, shape, alpha, norm: (None, {"alpha": alpha}))
    monkeypatch.setattr(fit_layer, "save_layer_fit", save)
    monkeypatch.setattr(poolbench.cli, "main", lambda argv=None: pytest.fail(f"cli main called with {argv}"))
    args = poolbench.cli.build_parser().parse_args(
        ["reproduce", "birodkar2019", "cnn-synthetic", "--seeds", "0,1", "--folds", "1", "--layers", "2"]
        + ["--alphas", "5", "--norms", "l1", "--epochs", "1", "--runs-dir", str(tmp_path), "--device", "cpu"]
    )
    assert args.func(args) == 0
    # 2 baselines, 1 fold baseline, 1 CV point, 2 retrained: each run a task of the executor
    assert tasks == [1] * 6
    assert [(layer, alpha) for _, layer, alpha in fits] == [(2, 5.0), (2, 5.0)]  # the fold's fit, the full one
    assert len({run for run, _, _ in fits}) == 2  # on the fold's baseline, then on seed 0's
