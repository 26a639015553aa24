"""Robustness metrics as Hendrycks & Dietterich define them (ICLR 2019, section 3); percentages.

Corruptions (CIFAR-10-C), E[s, c] the top-1 error at severity s of corruption c:

* corruption error against a baseline network b (AlexNet in the paper; here a named run):
  ``CE_c = 100 * sum_s E[s, c] / sum_s E_b[s, c]``;
* relative CE, the degradation against the baseline's degradation:
  ``rCE_c = 100 * sum_s (E[s, c] - E_clean) / sum_s (E_b[s, c] - E_b_clean)``; undefined (None)
  when the baseline does not degrade (denominator <= 0);
* ``mCE`` / relative mCE: the mean over the 15 benchmark corruptions (never the extras), taken over
  the defined values, with the count reported beside it.

Perturbations (CIFAR-10-P), sequences x_1..x_T of m images:

* flip probability ``FP = 100 / (m (T-1)) * sum_i sum_{j=2..T} 1[f(x_j) != f(x_{j-1})]`` for motion
  sequences and ``1[f(x_j) != f(x_1)]`` for noise sequences (frames not temporally related);
  with a frame step d > 1 ("difficulty") the comparisons run along x_{k}, x_{k+d}, ... for each
  offset k < d;
* top-5 distance: the same comparisons with d(tau, tau') = sum_{i=1..5} |c(sigma(i)) - c(i)|,
  sigma(i) the new rank of the class ranked i before, c(k) = min(k - 1, 5) (the paper's
  sum_i sum_{j=min(i, sigma(i))+1}^{max(i, sigma(i))} 1[2 <= j <= 6]);
* flip rate ``FR_p = 100 * FP_p / FP_b,p`` (undefined when FP_b,p = 0), ``mFR`` over the 10
  benchmark perturbations; a perturbation with several difficulty files (the noises) has the mean
  of their FPs as its FP (as Birodkar et al. report "the average" of multiple severities).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def error(pred: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float(np.mean(np.asarray(pred) != np.asarray(labels)))


def _comparisons(n_frames: int, noise: bool, step: int = 1) -> list[tuple[int, int]]:
    """(earlier, later) frame pairs the flip probability compares."""
    if noise:
        return [(0, j) for j in range(1, n_frames)]
    pairs = []
    for k in range(step):
        chain = list(range(k, n_frames, step))
        pairs += list(zip(chain[:-1], chain[1:], strict=True))
    return pairs


def flip_probability(preds: np.ndarray, noise: bool, step: int = 1) -> float:
    """preds [m, T] top-1 classes -> FP (%)."""
    pairs = _comparisons(preds.shape[1], noise, step)
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    return 100.0 * float(np.mean(preds[:, a] != preds[:, b]))


def top5_distance(ranks: np.ndarray, noise: bool, step: int = 1) -> float:
    """ranks [m, T, K] (class -> 1-based rank per frame, 1 = top) -> mean top-5 distance."""
    pairs = _comparisons(ranks.shape[1], noise, step)

    def c(k):
        return np.minimum(k - 1, 5)

    total = 0.0
    for a, b in pairs:
        order = np.argsort(ranks[:, a], axis=1)[:, :5]  # the classes at ranks 1..5 of the earlier frame
        sigma = np.take_along_axis(ranks[:, b], order, axis=1)  # their ranks in the later frame
        total += float(np.abs(c(sigma) - c(np.arange(1, 6))[None]).sum(1).mean())
    return total / len(pairs)


def ranks_of(logits: np.ndarray) -> np.ndarray:
    """[..., K] scores -> 1-based ranks (the highest score has rank 1; ties by class index)."""
    order = np.argsort(-logits, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, logits.shape[-1] + 1), axis=-1)
    return ranks.astype(np.int16)


def _mean(values: Iterable[float | None]) -> tuple[float | None, int]:
    vals = [v for v in values if v is not None]
    return (sum(vals) / len(vals) if vals else None), len(vals)


def corruption_errors(run: dict, base: dict, standard: Iterable[str]) -> dict:
    """CE / rCE per corruption of ``run`` against ``base`` (dicts with "clean" and "errors"
    {name: {severity: E}}), and their means over the ``standard`` corruptions present in both."""
    per = {}
    for name, errs in run["errors"].items():
        if name not in base["errors"]:
            continue
        b = base["errors"][name]
        sev = [s for s in errs if s in b]
        den = sum(b[s] for s in sev)
        rden = sum(b[s] - base["clean"] for s in sev)
        per[name] = {
            "ce": 100.0 * sum(errs[s] for s in sev) / den if den > 0 else None,
            "relative_ce": (100.0 * sum(errs[s] - run["clean"] for s in sev) / rden) if rden > 0 else None,
        }
    std = [n for n in standard if n in per]
    mce, n_ce = _mean(per[n]["ce"] for n in std)
    rmce, n_rce = _mean(per[n]["relative_ce"] for n in std)
    return {
        "per_corruption": per,
        "mCE": mce,
        "mCE_over": n_ce,
        "relative_mCE": rmce,
        "relative_mCE_over": n_rce,
        "standard_present": len(std),
    }


def perturbation_fp(fp_by_file: dict[str, float], files: dict[str, list[str]]) -> dict[str, float]:
    """FP per perturbation: the mean over its difficulty files present."""
    out = {}
    for name, fs in files.items():
        vals = [fp_by_file[f] for f in fs if f in fp_by_file]
        if vals:
            out[name] = sum(vals) / len(vals)
    return out


def flip_rates(run_fp: dict[str, float], base_fp: dict[str, float], standard: Iterable[str]) -> dict:
    """FR per perturbation and mFR over the ``standard`` perturbations present in both."""
    fr = {k: (100.0 * v / base_fp[k] if base_fp[k] > 0 else None) for k, v in run_fp.items() if k in base_fp}
    std = [n for n in standard if n in fr]
    mfr, n = _mean(fr[k] for k in std)
    return {"per_perturbation": fr, "mFR": mfr, "mFR_over": n, "standard_present": len(std)}
