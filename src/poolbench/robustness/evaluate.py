"""Robustness metrics of a trained classifier: corruption errors and flip probabilities.

Definitions from Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019, section 3; all numbers are percentages.

* ``E[c][s]``: top-1 error on corruption c at severity s (the clean error is ``E_clean``).
* Corruption error relative to a baseline network (their CE, with a baseline in AlexNet's place;
  the closed-form pooling paper's Table 2 uses the average-pooling network as baseline):
  ``CE_c = 100 * sum_s E[c][s] / sum_s E_base[c][s]``; ``mCE`` is the mean over corruptions.
  Also their *relative* CE, which discounts the clean error:
  ``rCE_c = 100 * sum_s (E[c][s] - E_clean) / sum_s (E_base[c][s] - E_base_clean)``, reported as
  None (undefined) when the baseline's degradation is within two binomial standard errors of zero
  (weak baselines, few images: the ratio would be noise over noise).
* Flip probability of a perturbation sequence x_1..x_T (their FP, for the non-noise sequences):
  ``FP = 100 * mean over images and t=2..T of 1[f(x_t) != f(x_{t-1})]``.
* Flip rate relative to the baseline: ``FR = 100 * FP / FP_base``; ``mFR`` is the mean over
  perturbations. (The closed-form pooling paper's Table 3 reports these for CIFAR-10-P.)
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..data.augment import normalize
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt
from .perturbations import PERTURBATIONS, frame, num_frames

_SUBSET_SEED = 20190610  # fixed: a run and its baseline are always scored on the same images


def select_images(x: torch.Tensor, y: torch.Tensor, n: Optional[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seed-independent subset of ``n`` test images (all of them when n is None or larger)."""
    if n is None or n >= len(y):
        return x, y
    g = torch.Generator().manual_seed(_SUBSET_SEED)
    idx = torch.randperm(len(y), generator=g)[:n].sort().values
    return x[idx.to(x.device)], y[idx.to(y.device)]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
            device: torch.device, batch: int = 500) -> torch.Tensor:
    """Top-1 predictions (CPU int64 [N]) of ``model`` in eval mode on uint8 images [N, C, H, W]."""
    model.eval()
    out = [model(normalize(images[i:i + batch].to(device), mean, std)).argmax(1).cpu()
           for i in range(0, len(images), batch)]
    return torch.cat(out)


def error(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * float((pred != y.cpu()).float().mean())


def corruption_errors(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: Sequence[float],
                      std: Sequence[float], device: torch.device, names: Iterable[str] = tuple(CORRUPTIONS),
                      severities: Iterable[int] = SEVERITIES, seed: int = 0) -> Dict[str, object]:
    """{"clean": E_clean, "errors": {corruption: {"1": E, ..., "5": E}}} on uint8 images x."""
    x = x.cpu()
    out: Dict[str, object] = {"n": len(y), "clean": error(predict(model, x, mean, std, device), y), "errors": {}}
    for name in names:
        out["errors"][name] = {str(s): error(predict(model, corrupt(x, name, s, seed), mean, std, device), y)
                               for s in severities}
    return out


def relative_corruption_errors(run: Dict[str, object], base: Dict[str, object]) -> Dict[str, object]:
    """CE and relative CE of ``run`` against ``base`` (both from ``corruption_errors`` on the same
    images, corruptions, severities and seed), per corruption, plus their means mCE / relative mCE."""
    per: Dict[str, Dict[str, float]] = {}
    for name, errs in run["errors"].items():
        b = base["errors"][name]
        sev = [s for s in errs if s in b]
        num, den = sum(errs[s] for s in sev), sum(b[s] for s in sev)
        rnum = sum(errs[s] - run["clean"] for s in sev)
        rden = sum(b[s] - base["clean"] for s in sev)
        # None where the ratio is undefined: a baseline without errors, or (relative CE) one whose
        # degradation under this corruption is within two binomial standard errors of zero
        per[name] = {"ce": 100.0 * num / den if den > 0 else None,
                     "relative_ce": 100.0 * rnum / rden if rden > 2 * _degradation_se(b, base, sev) else None}
    return {"per_corruption": per, "mCE": _mean(v["ce"] for v in per.values()),
            "relative_mCE": _mean(v["relative_ce"] for v in per.values())}


def _degradation_se(errs: Dict[str, float], base: Dict[str, object], sev: Sequence[str]) -> float:
    """Standard error (percentage points) of sum_s (E_s - E_clean), each E a binomial proportion on
    ``n`` images, correlation ignored (conservative); 0 when n is unknown."""
    n = base.get("n")
    if not n:
        return 0.0
    var = lambda e: (e / 100) * (1 - e / 100) / n  # noqa: E731
    return 100.0 * math.sqrt(sum(var(errs[s]) + var(base["clean"]) for s in sev))


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    """Mean of the defined values (None when there are none)."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def flip_probabilities(model: nn.Module, x: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                       device: torch.device, names: Iterable[str] = tuple(PERTURBATIONS)) -> Dict[str, float]:
    """{perturbation: FP (%)}: how often the top-1 prediction changes between consecutive frames."""
    x = x.cpu()
    out = {}
    for name in names:
        preds = torch.stack([predict(model, frame(x, name, t), mean, std, device) for t in range(num_frames(name))])
        out[name] = 100.0 * float((preds[1:] != preds[:-1]).float().mean())
    return out


def flip_rates(run_fp: Dict[str, float], base_fp: Dict[str, float]) -> Dict[str, object]:
    """FR = 100 * FP / FP_base per perturbation (None where FP_base = 0), and their mean mFR."""
    fr = {k: (100.0 * v / base_fp[k] if base_fp[k] > 0 else None) for k, v in run_fp.items() if k in base_fp}
    return {"per_perturbation": fr, "mFR": _mean(fr.values())}
