"""Statistics over seeds: summaries, two-group comparisons, best-versus-runner-up.

Every test comes from scipy, none is written by hand:

- difference of means: 95% CI from ``scipy.stats.bootstrap`` (BCa, 9999 resamples, fixed seed;
  percentile when BCa is undefined, e.g. all values equal) — ``CI_METHOD`` names it in reports;
- unpaired: Welch's t-test, ``scipy.stats.ttest_ind(equal_var=False)``;
- paired over matching seeds: ``scipy.stats.ttest_rel`` and ``scipy.stats.wilcoxon``;
- a mean's 95% CI for bar charts: Student's t interval, ``scipy.stats.t.interval``.

With the benchmark's handful of seeds these numbers are rough; they are shown with n, always.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

N_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
CI_METHOD = f"bootstrap BCa, {N_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}"
ALPHA = 0.05

# scipy >= 1.15 takes ``rng``; older versions only ``random_state``.
_RNG_KW = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def _finite(p: float) -> float | None:
    return float(p) if p is not None and math.isfinite(p) else None


def summarize(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1, n); std is nan for n=1, both are nan for n=0."""
    x = np.asarray(list(values), dtype=float)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    return float(x.mean()), float(x.std(ddof=1)) if n > 1 else math.nan, n


def mean_ci95(values: Sequence[float]) -> tuple[float, float] | None:
    """Student-t 95% interval of the mean (None for n<2). Used for error bars."""
    mean, std, n = summarize(values)
    if n < 2:
        return None
    if std == 0:
        return mean, mean
    lo, hi = stats.t.interval(0.95, n - 1, loc=mean, scale=std / math.sqrt(n))
    return float(lo), float(hi)


def _diff_of_means(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float]) -> tuple[tuple[float, float] | None, str]:
    """95% bootstrap CI of mean(a) - mean(b) and the method actually used."""
    data = (np.asarray(a, float), np.asarray(b, float))
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            # BCa warns and returns nan when the jackknife is degenerate; we fall back instead
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                data,
                _diff_of_means,
                vectorized=True,
                n_resamples=N_RESAMPLES,
                method=method,
                confidence_level=0.95,
                **{_RNG_KW: np.random.default_rng(BOOTSTRAP_SEED)},
            )
        lo, hi = res.confidence_interval
        if math.isfinite(lo) and math.isfinite(hi):
            return (float(lo), float(hi)), f"bootstrap {method}, {N_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}"
    return None, "bootstrap undefined for these values"


def compare_groups(
    a: Sequence[float], b: Sequence[float], paired_seeds: tuple[Sequence[int], Sequence[int]] | None = None
) -> dict[str, Any]:
    """Compare two groups of per-seed values (A minus B).

    ``paired_seeds`` = (seeds of ``a``, seeds of ``b``) in the order of the values; runs whose
    seeds match are also analysed as pairs (same seed = same initialisation and data order, so
    the paired test removes the seed-to-seed noise they share).

    Returns mean_a/b, std_a/b, n_a/b, mean_diff, ci95 (tuple or None), ci_method, ci_reason,
    welch_p (or None), welch_reason, and ``paired``: a dict (n_pairs, seeds, mean_diff, t_p,
    wilcoxon_p) or None, with paired_reason.
    """
    a = [float(v) for v in a]
    b = [float(v) for v in b]
    ma, sa, na = summarize(a)
    mb, sb, nb = summarize(b)
    out: dict[str, Any] = {
        "mean_a": ma,
        "std_a": sa,
        "n_a": na,
        "mean_b": mb,
        "std_b": sb,
        "n_b": nb,
        "mean_diff": ma - mb if na and nb else math.nan,
        "ci95": None,
        "ci_method": None,
        "ci_reason": None,
        "welch_p": None,
        "welch_reason": None,
        "paired": None,
        "paired_reason": None,
    }
    if na < 2 or nb < 2:
        why = f"needs at least 2 seeds per side (n={na} vs n={nb})"
        out["ci_reason"] = out["welch_reason"] = why
    else:
        out["ci95"], out["ci_method"] = bootstrap_diff_ci(a, b)
        if out["ci95"] is None:
            out["ci_reason"] = out["ci_method"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero variance on both sides: p is nan, reported as such
            out["welch_p"] = _finite(stats.ttest_ind(a, b, equal_var=False).pvalue)
        if out["welch_p"] is None:
            out["welch_reason"] = "undefined (no variance in either group)"

    if paired_seeds is None:
        out["paired_reason"] = "no seeds given"
        return out
    by_seed_a = dict(zip(paired_seeds[0], a, strict=True))
    by_seed_b = dict(zip(paired_seeds[1], b, strict=True))
    common = sorted(set(by_seed_a) & set(by_seed_b))
    if len(common) < 2:
        out["paired_reason"] = f"needs at least 2 matching seeds ({len(common)} match)"
        return out
    x = np.array([by_seed_a[s] for s in common])
    y = np.array([by_seed_b[s] for s in common])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_p = _finite(stats.ttest_rel(x, y).pvalue)
        try:
            w_p = _finite(stats.wilcoxon(x, y).pvalue)
        except ValueError:  # all differences zero
            w_p = None
    out["paired"] = {
        "n_pairs": len(common),
        "seeds": common,
        "mean_diff": float(np.mean(x - y)),
        "t_p": t_p,
        "wilcoxon_p": w_p,
    }
    return out


def best_vs_runner_up(groups: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """The group with the highest mean, the runner-up, and whether the best beats it.

    "Beats" means Welch's two-sided p < 0.05 with the best mean higher (two-sided, so this is
    conservative compared with a one-sided test). Needs 2+ seeds on both sides; otherwise
    ``beats`` is False and ``reason`` says why.
    """
    means = {k: summarize(v)[0] for k, v in groups.items() if len(v)}
    ranked = sorted(means, key=lambda k: means[k], reverse=True)
    out: dict[str, Any] = {
        "best": ranked[0] if ranked else None,
        "runner_up": None,
        "p": None,
        "beats": False,
        "reason": None,
    }
    if len(ranked) < 2:
        out["reason"] = "fewer than two pools in this column"
        return out
    best, second = ranked[0], ranked[1]
    out["runner_up"] = second
    cmp = compare_groups(groups[best], groups[second])
    out["p"] = cmp["welch_p"]
    if cmp["welch_p"] is None:
        out["reason"] = cmp["welch_reason"]
    else:
        out["beats"] = bool(cmp["welch_p"] < ALPHA and cmp["mean_diff"] > 0)
    return out
