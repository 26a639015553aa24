"""Fit the closed-form pooling on a trained model's own feature maps (Birodkar et al. 2019, Sec. 3.6).

The features entering ``layer`` (a stride-2 downsampling 1..3, or ``"final"``: the global pool) over
the model's training images, at most ``max_per_class`` per class (Sec. 6.4; no augmentation),
normalised per channel (Sec. 3.6), feed ``fit.fit_lda_pooling``, which solves the paper's Eq. 18 for
every output position. ``poolbench fit-lda`` and the Birodkar reproduction both call this:

    shape = layer_shape(model, data, 2)                      # refuses a layer the model lacks
    p, meta = fit_layer(model, data, shape, alpha=5.0, norm="l1")
    save_layer_fit(path, shape, p, meta)                     # atomically: a run's id hashes it

``model`` is a trained classifier (``forward_features``, ``forward_stages``, ``stage_channels``);
``data`` its run's data (``train_x``, ``train_y``, ``num_classes``, ``inputs``): what
``poolbench.trained.load_trained`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .downsample import check_lda_layer, save_downsample_weights
from .fit import fit_lda_pooling


@dataclass(frozen=True)
class LayerShape:
    """What a fit at ``layer`` maps: ``channels`` x ``height`` x ``width`` in, ``n_out`` copies out."""

    layer: int | str  # 1..3, or "final"
    channels: int
    height: int
    width: int
    n_out: int

    @property
    def out_size(self) -> tuple[int, int] | None:
        """The downsampled map's size (None for the global pool)."""
        return None if self.layer == "final" else (self.height // 2, self.width // 2)

    def describe(self) -> str:
        """``64x16x16 -> 128x8x8`` (or ``-> global``)."""
        into = f"{self.n_out * self.channels}x{self.height // 2}x{self.width // 2}" if self.out_size else "global"
        return f"{self.channels}x{self.height}x{self.width} -> {into}"


def feature_batches(model, data, layer: int | str, batch: int, max_per_class: int):
    """A callable giving a fresh, deterministic iterator of (features entering ``layer``, labels)
    over the first ``max_per_class`` training images of each class (two passes need it twice)."""
    y_all = data.train_y.cpu()
    keep = torch.cat([(y_all == k).nonzero().flatten()[:max_per_class] for k in range(data.num_classes)]).sort().values

    def batches():
        with torch.no_grad():
            for i in range(0, len(keep), batch):
                idx = keep[i : i + batch]
                x = data.inputs(data.train_x[idx.to(data.train_x.device)])
                feats = model.forward_features(x) if layer == "final" else model.forward_stages(x)[layer - 1]
                yield feats.float().cpu(), y_all[idx]

    return batches


def layer_shape(model, data, layer: int | str, n_out: int | None = None) -> LayerShape:
    """The map entering ``layer`` and the copies a fit there keeps (default: 1 for the global pool,
    the channel ratio for a downsampling, the only count the next stage accepts); ValueError naming
    the problem for a layer the model lacks, another count, or a 1x1 map."""
    if layer != "final":
        check_lda_layer(model, layer)
        ratio = model.stage_channels[layer] // model.stage_channels[layer - 1]
        n_out = n_out or ratio
        if n_out != ratio:
            raise ValueError(
                f"layer {layer} must keep {ratio} eigenvectors: stage {layer + 1} expects "
                f"{model.stage_channels[layer]} = {ratio} x {model.stage_channels[layer - 1]} channels"
            )
    probe = next(feature_batches(model, data, layer, 2, 1)())[0]
    c, h, w = probe.shape[1:]
    if h * w == 1:
        raise ValueError(f"the model's map at layer {layer} is 1x1: there is nothing to pool spatially")
    return LayerShape(layer, int(c), int(h), int(w), n_out or 1)


def fit_layer(
    model,
    data,
    shape: LayerShape,
    *,
    alpha: float,
    norm: str = "l1",
    max_per_class: int = 10000,
    batch: int = 500,
    ridge: float = 0.0,
    centre: str = "paper",
    normalization: str = "per-channel",
) -> tuple[Any, dict[str, Any]]:
    """(p, meta): the pooling fitted on the features entering ``shape.layer`` (``fit.fit_lda_pooling``;
    ``alpha`` is the paper's localisation penalty, Eq. 16)."""
    return fit_lda_pooling(
        feature_batches(model, data, shape.layer, batch, max_per_class),
        data.num_classes,
        alpha=alpha,
        norm=norm,
        n_out=shape.n_out,
        out_size=shape.out_size,
        max_per_class=max_per_class,
        ridge=ridge,
        centre=centre,
        normalization=normalization,
    )


def save_layer_fit(path: str | Path, shape: LayerShape, p, meta: dict[str, Any]) -> Path:
    """Write the fit where its kind is read from: the global pool's weights (``pools.lda``) or a
    downsampling's (``downsample``); both atomically, whole or absent."""
    if shape.layer == "final":
        from ..pools.lda import save_lda_weights

        return save_lda_weights(path, p, meta)
    return save_downsample_weights(path, p, meta)
