"""The one learning-curve plotter: what it draws (the figure's lines), fed by the index or by one run."""

from __future__ import annotations

import numpy as np

from poolbench.results import plots


def _drawn(monkeypatch):
    figs = []
    monkeypatch.setattr(plots, "_png", lambda fig: figs.append(fig) or b"png")
    return figs


def test_curves_draw_the_mean_over_the_runs_that_reached_each_epoch(monkeypatch):
    figs = _drawn(monkeypatch)
    runs = [{1: 10.0, 2: 20.0, 3: 30.0}, {1: 20.0, 2: 40.0}]  # the second run stopped after epoch 2
    assert plots.curves([("col", "acc", [("gem (n=2)", "red", runs)])]) == b"png"
    (ax,) = figs[0].axes[:1]
    (line,) = ax.lines
    assert list(line.get_xdata()) == [1, 2, 3] and np.allclose(line.get_ydata(), [15.0, 30.0, 30.0])
    assert ax.get_legend().get_texts()[0].get_text() == "gem (n=2)"


def test_run_curves_draw_one_runs_metrics_and_skip_what_it_lacks(monkeypatch):
    figs = _drawn(monkeypatch)
    history = [
        {
            "epoch": e,
            "train_acc": 10.0 * e,
            "test_acc": 9.0 * e,
            "val_acc": None,
            "train_loss": 2.0 / e,
            "test_loss": 3.0,
        }
        for e in (1, 2)
    ]
    plots.run_curves(history, "run [standard]")
    acc, loss = figs[0].axes[:2]
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["train", "test"]  # no validation split
    assert np.allclose(acc.lines[1].get_ydata(), [9.0, 18.0]) and np.allclose(loss.lines[0].get_ydata(), [2.0, 1.0])
