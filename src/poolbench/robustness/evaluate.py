"""A trained classifier on -C / -P sets: errors per corruption and severity, flip probabilities
and top-5 distances per sequence file (the raw numbers ``metrics`` turns into CE, FR, ...).

Images arrive as the sets store them (uint8 [..., 32, 32, 3]) and are turned into model inputs by
the run's own transform (``RunData.inputs``), exactly as its clean test images are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import metrics, sets
from .perturbations import is_noise

ToInput = Callable[[torch.Tensor], torch.Tensor]  # uint8 [B, 3, H, W] -> the float model inputs

_SUBSET_SEED = 20190610  # fixed: a run and its baseline are always scored on the same images


def select_images(x: torch.Tensor, y: torch.Tensor, n: int | None):
    """A fixed, seed-independent subset of ``n`` test images (all of them when n is None or larger)."""
    if n is None or n >= len(y):
        return x, y
    g = torch.Generator().manual_seed(_SUBSET_SEED)
    idx = torch.randperm(len(y), generator=g)[:n].sort().values
    return x[idx.to(x.device)], y[idx.to(y.device)]


@torch.no_grad()
def logits_of(
    model: nn.Module, images: np.ndarray, to_input: ToInput, device: torch.device, batch: int = 500
) -> np.ndarray:
    """float32 [M, K] logits of ``model`` (eval mode) on uint8 [M, 32, 32, 3] images.

    ``to_input`` maps uint8 [B, 3, 32, 32] to the model's float inputs exactly as the run was trained
    (``RunData.inputs``: the dataset's per-channel statistics, or each image on its own for a preset
    that says so), so a corrupted image is normalised as its clean twin is.
    """
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.array(images[i : i + batch]))  # a copy: sets are read-only memory maps
        x = x.permute(0, 3, 1, 2).to(device)
        logits = model(to_input(x)).float()
        if not torch.isfinite(logits).all():
            raise ValueError("the model produced non-finite logits: it has diverged; no robustness numbers for it")
        out.append(logits.cpu().numpy())
    return np.concatenate(out)


def corruption_errors(
    model: nn.Module,
    clean: np.ndarray,
    labels: np.ndarray,
    c_dir: Path,
    names: Iterable[str],
    severities: Iterable[int],
    to_input: ToInput,
    device,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """{"n", "clean": E_clean, "errors": {name: {"1": E, ...}}} on the -C folder ``c_dir``."""
    out: dict = {
        "n": int(len(labels)),
        "clean": metrics.error(logits_of(model, clean, to_input, device).argmax(1), labels),
        "errors": {},
    }
    for name in names:
        if progress:
            progress(name)
        x, y = sets.read_c(c_dir, name)
        # a released set may order the test images otherwise than the run's reader: same multiset
        if len(y) != len(labels) or not np.array_equal(np.sort(y), np.sort(labels)):
            raise ValueError(
                f"{c_dir}/{name}.npy holds {len(y)} images whose labels are not those of the run's "
                f"{len(labels)} clean test images: give the set of this test split"
            )
        out["errors"][name] = {
            str(s): metrics.error(logits_of(model, x[s - 1], to_input, device).argmax(1), y) for s in severities
        }
    return out


def flip_statistics(
    model: nn.Module,
    p_dir: Path,
    files: Iterable[str],
    to_input: ToInput,
    device,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """{"flip_probability": {file: FP}, "top5_distance": {file: T5D}, "n": images} on ``p_dir``."""
    fp, t5 = {}, {}
    n = None
    for name in files:
        if progress:
            progress(name)
        seq = sets.read_p(p_dir, name, sets.frames_of(name))
        m, t = seq.shape[:2]
        n = m if n is None else n
        logits = logits_of(model, seq.reshape(m * t, *seq.shape[2:]), to_input, device).reshape(m, t, -1)
        fp[name] = metrics.flip_probability(logits.argmax(-1), is_noise(name))
        t5[name] = metrics.top5_distance(metrics.ranks_of(logits), is_noise(name))
    return {"n": n, "flip_probability": fp, "top5_distance": t5}
