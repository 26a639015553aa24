"""Pictures of a trained run (matplotlib, Agg backend): what the learned pools look at, how training
went (``poolbench.results.plots.run_curves``), and what the pooled features say about each class.

* ``plot_pool_weights``: the spatial weights of every module that draws them, as heat maps (as in
  Figure 1 of Birodkar et al., "A Closed-Form Learned Pooling for Deep Classification Networks").
  A module draws its weights by answering ``weight_maps(x)`` (``pools.base.DrawsWeightMaps``), so
  which panels a pool gets is the pool's to say: flex (per-channel maps as their mean plus three
  channels), lda (each weight map; signed, so on a diverging scale), attn (the mean attention over
  the images, then three images with their attention on top), and the LDA / SGD downsamplings (a
  few outputs' maps, each over the whole input). Auxiliary heads' pools are included; their titles
  name the module.
* ``plot_class_features``: the mean pooled feature vector (what the classifier reads) per class,
  each feature standardised across classes and features ordered by the class they favour.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from .fileio import atomic_write_bytes  # noqa: E402
from .pools.base import DrawsWeightMaps  # noqa: E402


def _save(fig, path: Path, dpi: int) -> None:
    """The figure as a PNG, written atomically (a run directory may be someone else's: a planted
    link at ``path`` is refused, never written through), and closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


Panel = tuple[str, np.ndarray, str]  # (title, 2-D array or RGB image, kind: "weights" | "signed" | "overlay")


def spatial_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every submodule that draws its weights over positions (``DrawsWeightMaps``), by name."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, DrawsWeightMaps)]


@torch.no_grad()
def _module_inputs(
    model: nn.Module, modules: Sequence[tuple[str, nn.Module]], x: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The input each module sees on images x (auxiliary heads run through ``training_loss``'s path)."""
    seen: dict[str, torch.Tensor] = {}

    def keeper(name: str):
        def hook(mod, inp, out) -> None:  # returns None: a forward hook's return value replaces the output
            seen.setdefault(name, inp[0].detach())

        return hook

    hooks = [m.register_forward_hook(keeper(name)) for name, m in modules]
    try:
        model.eval()
        if hasattr(model, "aux_heads"):
            feats = model.forward_stages(x)
            model.forward_head(feats[-1])
            for s, head in zip(model.aux_stages, model.aux_heads, strict=True):
                head(feats[s - 1])
        else:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _overlay(image: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """An RGB image (H, W, 3 in 0..1) tinted by an attention map upsampled to its size."""
    a = torch.from_numpy(attention)[None, None].float()
    a = F.interpolate(a, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()
    a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
    heat = plt.get_cmap("inferno")(a)[..., :3]
    return 0.45 * image + 0.55 * heat


def pool_panels(name: str, module: nn.Module, inp: torch.Tensor | None, images: np.ndarray | None) -> list[Panel]:
    """The panels of one module: what its ``weight_maps`` returns on its input ``inp``; a map tied to
    an image is drawn over that image (and left out when no ``images`` are given)."""
    if not isinstance(module, DrawsWeightMaps):
        raise TypeError(f"{name}: {type(module).__name__} has no weight_maps(x) (pools.base.DrawsWeightMaps)")
    panels: list[Panel] = []
    for i, wm in enumerate(module.weight_maps(inp)):
        weights = wm.weights.detach().cpu().float().numpy()
        title = f"{name} ({type(module).__name__}): {wm.label}" if i == 0 else f"{name}: {wm.label}"
        if wm.image is None:
            panels.append((title, weights, "signed" if wm.signed else "weights"))
        elif images is not None and wm.image < len(images):
            n = weights.size  # x H*W: 1 everywhere is average pooling
            title += f" (x H*W {n * weights.min():.3g}..{n * weights.max():.3g}, stretched)"
            panels.append((title, _overlay(images[wm.image], weights), "overlay"))
    return panels


def plot_pool_weights(model: nn.Module, x: torch.Tensor, path: Path, images: np.ndarray | None = None) -> bool:
    """Heat maps of all learned spatial weights on normalised inputs x; False (no file) if none."""
    modules = spatial_modules(model)
    if not modules:
        return False
    inputs = _module_inputs(model, modules, x)
    rows = [pool_panels(name, m, inputs.get(name), images) for name, m in modules]
    ncol = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(max(3.2 * ncol, 5.0), 3.0 * len(rows)), squeeze=False)
    for r, panels in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(panels):
                ax.axis("off")
                continue
            title, arr, kind = panels[c]
            if kind == "overlay":
                ax.imshow(np.clip(arr, 0, 1))
            else:
                arr = arr * arr.size  # relative to average pooling's 1/(H*W): 1 everywhere is GAP
                lim = np.abs(arr).max() or 1.0
                im = ax.imshow(
                    arr,
                    cmap="RdBu_r" if kind == "signed" else "viridis",
                    vmin=-lim if kind == "signed" else None,
                    vmax=lim if kind == "signed" else None,
                )
                bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
                bar.formatter.set_useOffset(False)
                bar.update_ticks()
            ax.set_title(title, fontsize=8)
    fig.suptitle("learned spatial pooling weights x H*W (1 = average pooling)", fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=100)
    return True


@torch.no_grad()
def pooled_features(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """What the classifier reads, [N, pooled width] on normalised inputs x: the model's
    ``forward_head(forward_features(x), pre_logits=True)``, batch by batch."""
    model.eval()
    outs = [
        model.forward_head(model.forward_features(x[i : i + batch]), pre_logits=True).float().cpu()
        for i in range(0, len(x), batch)
    ]
    return torch.cat(outs)


def plot_class_features(
    feats: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], path: Path, title: str = ""
) -> None:
    """Heat map classes x pooled features of the per-class mean, z-scored per feature across classes."""
    labels = labels.cpu()
    present = [k for k in range(len(classes)) if (labels == k).any()]
    means = torch.stack([feats[labels == k].mean(0) for k in present]).numpy()
    z = (means - means.mean(0)) / (means.std(0) + 1e-8)
    order = np.lexsort((-z.max(0), z.argmax(0)))  # group features by the class they favour most
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.06 * z.shape[1]), 1.2 + 0.35 * len(present)))
    im = ax.imshow(z[:, order], aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
    ax.set_yticks(range(len(present)), [classes[k] for k in present], fontsize=8)
    ax.set_xlabel(f"pooled feature (sorted by the class it favours; {z.shape[1]} features)")
    fig.colorbar(im, ax=ax, label="class mean, z-scored across classes")
    ax.set_title(title or "per-class mean pooled features", fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=100)


# ----------------------------------------------------------------------------- Birodkar et al. 2019, Figure 1
def evenly_spaced_outputs(out_size: Sequence[int], k: int = 3) -> list[int]:
    """Flat indices of a k x k grid of evenly spaced output positions (the paper's "9 evenly spaced
    locations in the output feature map")."""
    ho, wo = out_size
    rows = np.linspace(0, ho - 1, k).round().astype(int)
    cols = np.linspace(0, wo - 1, k).round().astype(int)
    return [int(r * wo + c) for r in rows for c in cols]


def plot_pooling_maps(
    p: np.ndarray, in_size: Sequence[int], out_size: Sequence[int], path: Path, title: str = "", copy: int = 0
) -> Path:
    """Figure 1a: one heat map per output position (a 3 x 3 grid of them) over the whole input,
    positive weights red, negative blue, on one symmetric scale. ``p`` [K, M, N] (or [M, N])."""
    p = np.asarray(p, dtype=float)
    p = p[copy] if p.ndim == 3 else p
    idx = evenly_spaced_outputs(out_size)
    maps = [p[m].reshape(in_size) for m in idx]
    lim = max(float(np.abs(np.stack(maps)).max()), 1e-12)
    fig, axes = plt.subplots(3, 3, figsize=(6.4, 6.4))
    for ax, m, mp in zip(axes.flat, idx, maps, strict=True):
        im = ax.imshow(mp, cmap="bwr", vmin=-lim, vmax=lim)
        ax.set_title(f"output ({m // out_size[1] + 1}, {m % out_size[1] + 1})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7)
    fig.suptitle(
        title or f"pooling map, copy {copy}: {in_size[0]}x{in_size[1]} -> {out_size[0]}x{out_size[1]}", fontsize=9
    )
    path = Path(path)
    _save(fig, path, dpi=110)
    return path


@torch.no_grad()
def module_outputs(model: nn.Module, module: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """What ``module`` (inside ``model``) outputs for the inputs ``x``, batch by batch."""
    outs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda mod, inp, out: outs.append(out.detach().float().cpu()))
    try:
        model.eval()
        for i in range(0, len(x), batch):
            model(x[i : i + batch])
    finally:
        handle.remove()
    return torch.cat(outs)


def plot_per_class_pooled_maps(
    outputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    path: Path,
    channel: int,
    classes: Sequence[str],
    nearest: int = 5,
) -> Path:
    """Figure 1b: for each model (rows of panels) and class, the mean of one channel's pooled map over the
    class, then the ``nearest`` maps of that class closest to that mean (Euclidean). ``outputs``:
    name -> [B, C, Ho, Wo] outputs of the downsampling being compared."""
    labels = labels.cpu()
    names = list(outputs)
    q = len(classes)
    fig, axes = plt.subplots(
        q, len(names) * (nearest + 1), figsize=(1.1 * len(names) * (nearest + 1), 1.1 * q), squeeze=False
    )
    for j, name in enumerate(names):
        maps = outputs[name][:, channel]
        for c in range(q):
            members = maps[labels == c]
            row = axes[c, j * (nearest + 1) : (j + 1) * (nearest + 1)]
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
            if not len(members):
                continue
            mean = members.mean(0)
            order = (members - mean).flatten(1).norm(dim=1).argsort()[:nearest]
            shown = [mean] + [members[i] for i in order]
            lo, hi = float(torch.stack(shown).min()), float(torch.stack(shown).max())
            for ax, mp in zip(row, shown, strict=False):  # a class may have fewer than nearest members
                ax.imshow(mp.numpy(), cmap="viridis", vmin=lo, vmax=hi)
            if c == 0:
                row[0].set_title(f"{name}: mean", fontsize=7)
            row[0].set_ylabel(str(classes[c]), fontsize=7)
    fig.suptitle(f"channel {channel}: per-class mean pooled map and the {nearest} closest", fontsize=9)
    path = Path(path)
    _save(fig, path, dpi=100)
    return path
