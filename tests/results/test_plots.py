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


def _section(tmp_path, accs, model="resnet20", dataset="synthetic", diverged=0):
    from poolbench.results.table import load_leaderboard
    from tests.results.fakeruns import write_run

    for seed, acc in enumerate(accs):
        write_run(tmp_path, model, dataset, "avg", seed=seed, best=acc)
    for seed in range(diverged):
        write_run(tmp_path, model, dataset, "avg", seed=100 + seed, status="diverged")
    return load_leaderboard(tmp_path).sections[0]


def test_the_bar_axis_says_not_from_0_only_when_it_is_not(monkeypatch, tmp_path):
    figs = _drawn(monkeypatch)
    low = _section(tmp_path / "low", [9.0, 11.0])  # chance-level accuracies: the axis starts at 0
    plots.bar_chart(low, {"avg": "red"})
    assert figs[0].axes[0].get_ylim()[0] == 0 and "not from 0" not in figs[0].axes[0].get_ylabel()
    high = _section(tmp_path / "high", [94.5, 94.9])
    plots.bar_chart(high, {"avg": "red"})
    assert figs[1].axes[0].get_ylim()[0] > 0 and "axis not from 0" in figs[1].axes[0].get_ylabel()


def test_a_one_epoch_curve_says_one_epoch(monkeypatch):
    figs = _drawn(monkeypatch)
    plots.curves([("col", "acc", [("gem (n=1)", "red", [{1: 10.0}])])])
    ax = figs[0].axes[0]
    assert ax.get_legend().get_texts()[0].get_text() == "gem (n=1) — one epoch"
    assert ax.lines[0].get_marker() == "o" and ax.lines[0].get_markersize() >= 6


def test_the_strip_plot_draws_every_run_and_marks_the_diverged(monkeypatch, tmp_path):
    figs = _drawn(monkeypatch)
    sec = _section(tmp_path, [70.0, 70.4, 70.2], diverged=1)
    plots.strip_plot(sec, {"avg": "red"})
    ax = figs[0].axes[0]
    assert sorted(ax.lines[0].get_ydata()) == [70.0, 70.2, 70.4]
    assert [t.get_text() for t in ax.texts] == ["✕ 1 diverged"]


def test_the_detectable_plot_is_the_power_formula(monkeypatch):
    from scipy import stats

    figs = _drawn(monkeypatch)
    plots.detectable_plot([("col", [("yours", 0.5, "-")])], [2, 3, 10])
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert np.allclose(figs[0].axes[0].lines[0].get_ydata(), [z * 0.5 * np.sqrt(2 / n) for n in (2, 3, 10)])


def test_the_profile_plot_draws_each_pools_fraction_above_tau(monkeypatch, tmp_path):
    from poolbench.results.across_columns import across_columns
    from poolbench.results.table import load_leaderboard
    from tests.results.fakeruns import write_run

    for seed, (a, g) in enumerate([(70.0, 72.0), (71.0, 73.0)]):
        for model in ("resnet20", "resnet32"):
            write_run(tmp_path, model, "synthetic", "avg", seed=seed, best=a)
            write_run(tmp_path, model, "synthetic", "gem", seed=seed, best=g)
    res = across_columns(load_leaderboard(tmp_path).sections[0])
    figs = _drawn(monkeypatch)
    plots.profile_plot(res["profiles"], {"avg": "red", "gem": "blue"})
    taus = res["profiles"]["taus"]
    avg_line = next(line for line in figs[0].axes[0].lines if line.get_label() == "avg")
    assert np.allclose(avg_line.get_ydata(), [np.mean(np.array([70.0, 71.0, 70.0, 71.0]) > t) for t in taus])
    assert res["reference"] == "avg" and res["rows"][1]["p_improve"] == 1.0  # gem above avg everywhere
