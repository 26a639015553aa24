"""Figures for the report (matplotlib, Agg backend: no display needed). Each returns PNG bytes.

- ``curves``: the one learning-curve plotter (per panel, lines of mean ± 1 std over runs per epoch);
  ``learning_curves`` feeds it test accuracy per (pool, column) from the index (finished runs of
  one protocol only), ``run_curves`` one run's ``metrics.jsonl`` (``poolbench show``).
- ``bar_chart``: one panel per column, a bar per pool at its mean with a 95% confidence interval
  of the mean (Student t, ``stats.mean_ci95``); published baselines drawn as black ticks (their
  mean) with a dot per published seed.
- ``strip_plot``: one panel per column, every finished run of every pool as a dot (the spread, not
  a summary), the mean as a tick, and the cell's diverged runs marked in red under the axis.
- ``profile_plot``: the performance profiles of ``across_columns``: per pool, the fraction of its
  runs (all columns pooled) above each accuracy, with its stratified bootstrap band.
- ``detectable_plot``: per column, the smallest difference detectable against n seeds (``power``),
  one line per measured spread.
"""

from __future__ import annotations

import io
import sqlite3
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from . import published as pub  # noqa: E402
from .safe_text import figure  # noqa: E402  (labels come from config.json: no mathtext, no 200k chars)
from .stats import mean_ci95  # noqa: E402
from .table import Section  # noqa: E402

BEST_EDGE = "#b8860b"


def pool_colors(pools: list[str]) -> dict[str, tuple]:
    """A stable colour per pool (sorted names -> tab10/tab20) so every figure agrees."""
    names = sorted(set(pools))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {p: cmap(i % cmap.N) for i, p in enumerate(names)}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _panels(n: int, width: float = 4.4, height: float = 3.3):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


Runs = Sequence[Mapping[int, float]]  # one {epoch: value} per run
CurveLine = tuple[str, Any, Runs]  # (legend label, colour, the runs it averages)
CurvePanel = tuple[str, str, Sequence[CurveLine]]  # (panel title, y-axis label, lines)


def curves(panels: Sequence[CurvePanel], title: str = "") -> bytes:
    """The one learning-curve plotter: per panel, each line is the mean over its runs per epoch
    with a +-1 std band (the runs that reached each epoch: seeds may stop at different epochs)."""
    fig, axes = _panels(len(panels))
    for ax, (name, ylabel, lines) in zip(axes, panels, strict=True):
        for label, color, runs in lines:
            epochs = sorted({e for r in runs for e in r})
            vals = [np.array([r[e] for r in runs if e in r]) for e in epochs]
            mean = np.array([v.mean() for v in vals])
            std = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in vals])
            marker = "o" if len(epochs) < 20 else None  # a few epochs: show where the points are
            if len(epochs) == 1:  # a single point is no curve: say so, and draw it where it can be seen
                label, marker = f"{label} — one epoch", "o"
            size = 7 if len(epochs) == 1 else 3
            ax.plot(epochs, mean, color=color, lw=1.6, marker=marker, markersize=size, label=figure(label))
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.18, lw=0)
        ax.set_title(figure(name), fontsize=11)
        ax.set_xlabel("epoch")
        if ylabel:
            ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        if ax.has_data():  # below the panel: a legend inside would cover the curves
            ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    if title:
        fig.suptitle(figure(title, limit=200), fontsize=9)
    return _png(fig)


def learning_curves(
    conn: sqlite3.Connection, protocol_label: str, columns: list[str], colors: dict[str, tuple]
) -> bytes:
    """Mean test accuracy per epoch over the finished runs of each (pool, column) in the index."""
    rows = conn.execute(
        "SELECT r.column_key, r.pool, r.run_id, e.epoch, e.test_acc FROM epochs e JOIN runs r "
        "USING (run_id) WHERE r.protocol_label = ? AND r.status = 'finished' AND e.test_acc IS NOT NULL "
        "ORDER BY e.epoch",
        (protocol_label,),
    )
    found: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for col, pool, run_id, epoch, acc in rows:
        found[(col, pool)][run_id][epoch] = acc
    panels: list[CurvePanel] = []
    for i, col in enumerate(columns):
        lines = []
        for pool in sorted(p for c, p in found if c == col):
            runs = list(found[(col, pool)].values())
            lines.append((f"{pool} (n={len(runs)})", colors[pool], runs))
        panels.append((col, "test accuracy (%)" if i == 0 else "", lines))
    return curves(panels)


def run_curves(history: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """One run's ``metrics.jsonl``: accuracy (train, test, validation) and loss (train, test) per epoch."""
    cmap = plt.get_cmap("tab10")

    def line(label: str, key: str, color: int) -> list[CurveLine]:
        run = {int(r["epoch"]): float(r[key]) for r in history if r.get(key) is not None}
        return [(label, cmap(color), [run])] if run else []

    accuracy = line("train", "train_acc", 0) + line("test", "test_acc", 1) + line("validation", "val_acc", 2)
    loss = line("train (incl. aux / penalty terms)", "train_loss", 0) + line("test", "test_loss", 1)
    return curves([("accuracy", "accuracy (%)", accuracy), ("loss", "cross-entropy", loss)], title)


def bar_chart(section: Section, colors: dict[str, tuple], title: str = "") -> bytes:
    """Bars at the mean with 95% CI whiskers per column; one-seed bars are hatched (no CI)."""
    fig, axes = _panels(len(section.columns), height=3.6)
    for ax, col in zip(axes, section.columns, strict=True):
        cells = [c for p in section.pools if (c := section.cells.get((p, col))) and c.n]
        lows, highs = [], []  # the extent of bars, whiskers and reference ticks
        for i, c in enumerate(cells):
            ci = mean_ci95(c.values)
            if ci:  # an accuracy lies in [0, 100]: so does the drawn interval of its mean
                ci = (max(ci[0], 0.0), min(ci[1], 100.0))
            ax.bar(
                i,
                c.mean,
                color=colors[c.pool],
                alpha=0.9 if c.n > 1 else 0.45,
                hatch=None if c.n > 1 else "//",
                edgecolor=BEST_EDGE if c.best else "none",
                lw=2.5 if c.best else 0,
            )
            if ci:
                ax.errorbar(i, c.mean, yerr=[[c.mean - ci[0]], [ci[1] - c.mean]], color="#222", capsize=4, lw=1.2)
            lows.append(ci[0] if ci else c.mean)
            highs.append(top := ci[1] if ci else c.mean)
            ref = pub.published_for(c.pool, col) if section.standard else None
            if ref is not None:  # the published mean as a dashed tick, each published seed as a dot
                mean = sum(ref) / len(ref)
                ax.plot([i - 0.4, i + 0.4], [mean, mean], color="black", lw=2, ls="--")
                ax.plot([i + 0.3] * len(ref), ref, "k.", ms=4)
                lows.append(min(ref))
                highs.append(max(ref))
            ax.annotate(
                f"{c.mean:.2f}\nn={c.n}",
                (i, top),
                ha="center",
                va="bottom",
                fontsize=7.5,
                xytext=(0, 3),
                textcoords="offset points",
            )
        if cells:
            # accuracies differ by tenths of a percent: start the axis just below the lowest
            # interval, not at 0 (the axis label says so)
            span = max(max(highs) - min(lows), 0.5)
            ax.set_ylim(max(min(lows) - 0.6 * span, 0.0), min(max(highs) + 0.5 * span, 105.0))
        ax.set_xlim(-0.7, max(len(cells), 3) - 0.3)  # same bar width in every panel
        ax.set_xticks(range(len(cells)), [figure(c.pool) for c in cells], rotation=30, ha="right", fontsize=9)
        ax.set_title(figure(col), fontsize=11)
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    from_zero = all(ax.get_ylim()[0] <= 0 for ax in axes)
    axes[0].set_ylabel("test accuracy (%)" + ("" if from_zero else " — axis not from 0"))
    if title:
        fig.suptitle(figure(title, 120), fontsize=11, y=1.02)
    return _png(fig)


DIVERGED_COLOR = "#c0392b"


def strip_plot(section: Section, colors: dict[str, tuple]) -> bytes:
    """Every finished run as a dot per pool and column (jittered sideways, the mean as a tick), and
    each cell's diverged runs as a red count under the axis: the spread, with divergence beside it."""
    fig, axes = _panels(len(section.columns), height=3.6)
    rng = np.random.default_rng(0)  # the jitter only: the same picture every time
    for ax, col in zip(axes, section.columns, strict=True):
        cells = [c for p in section.pools if (c := section.cells.get((p, col))) and (c.n or c.other.get("diverged"))]
        for i, c in enumerate(cells):
            if c.n:
                x = i + rng.uniform(-0.12, 0.12, c.n)
                ax.plot(x, c.values, "o", color=colors[c.pool], ms=5, alpha=0.85, mec="white", mew=0.5)
                ax.plot([i - 0.25, i + 0.25], [c.mean, c.mean], color="#222", lw=1.5)
            diverged = c.other.get("diverged", 0)
            if diverged:
                ax.annotate(
                    f"✕ {diverged} diverged",
                    (i, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7.5,
                    color=DIVERGED_COLOR,
                )
        ax.set_xlim(-0.7, max(len(cells), 3) - 0.3)
        ax.set_xticks(range(len(cells)), [figure(c.pool) for c in cells], rotation=30, ha="right", fontsize=9)
        ax.set_title(figure(col), fontsize=11)
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("test accuracy (%) of each finished run")
    return _png(fig)


SpreadLine = tuple[str, float, str]  # (legend label, sd, line style)


def detectable_plot(panels: Sequence[tuple[str, Sequence[SpreadLine]]], seeds: Sequence[int]) -> bytes:
    """Per column, the smallest difference a two-sided test detects (alpha 0.05, power 0.8, normal
    approximation, unpaired: n seeds per pool) against n, one line per measured spread."""
    from .power import detectable_difference

    fig, axes = _panels(len(panels), height=3.3)
    for ax, (col, lines) in zip(axes, panels, strict=True):
        for label, sd, style in lines:
            ax.plot(seeds, [detectable_difference(sd, n) for n in seeds], style, lw=1.6, label=figure(label))
        ax.set_title(figure(col), fontsize=11)
        ax.set_xlabel("seeds per pool (n)")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        if ax.has_data():
            ax.legend(fontsize=8, frameon=False, loc="upper right")
    axes[0].set_ylabel("smallest detectable difference (points)")
    return _png(fig)


def profile_plot(profiles: Mapping[str, Any], colors: dict[str, tuple]) -> bytes:
    """Per pool the fraction of runs whose accuracy exceeds tau, against tau, with its 95% band
    (Agarwal et al. 2021's performance profile; ``aggregate.performance_profile``)."""
    fig, axes = _panels(1, width=5.5, height=3.4)
    ax, taus = axes[0], profiles["taus"]
    for pool, (profile, ci) in ((p, v) for p, v in profiles.items() if p != "taus"):
        ax.plot(taus, profile, color=colors.get(pool), lw=1.6, label=figure(pool))
        ax.fill_between(taus, ci[0], ci[1], color=colors.get(pool), alpha=0.18, lw=0)
    ax.set_xlabel("accuracy threshold tau (%)")
    ax.set_ylabel("fraction of runs > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)
