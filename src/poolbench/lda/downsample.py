"""Closed-form learned pooling in place of a network's stride-2 downsamplings (Birodkar, Mobahi,
Krishnan & Bengio 2019, Sec. 3.6 "Use in Deep Networks" and "Number of Eigenvectors", Sec. 6.3-6.4).

The paper converts "the pooling operator at any given layer to a learned one": the models reduce
resolution with stride-2 convolutions, and the learned operator maps the H x W map entering the
downsampling to Ho x Wo = H/2 x W/2, each output m with its own weights p_m over all N = H*W inputs
(shared by the channels). Where the network doubles its channels there, the top *two*
eigenvectors give two pooled copies of the C channels, "consistent [in size] between our method
and the common practice". Our reading of what remains of the strided layer: a stride-2 conv is a
stride-1 conv followed by subsampling; the learned pooling takes the subsampling's place *before*
the conv (it is fitted on the map entering the layer, Sec. 3.6), so the layer's entry module is
rebuilt at stride 1 taking the 2C pooled channels (``entry_block(2C, 2C, 1)``); every other layer
is unchanged and the network is retrained from random initialisation with p fixed.

Surgery, not a model option (the zoo knows no paper): ``with_lda_downsampling(model, layers,
weights)`` needs the zoo's convention, ``model.stages`` whose ``stages[L][0]`` is the L-th
stride-2 downsampling (L = 1 .. len(stages) - 1) and ``model.downsample_entry(in, out, stride)``
(cnn4, preact_resnet18, the CIFAR resnets). ``layers`` may name several downsamplings, replaced
together (the paper's CIFAR-10 ResNet: the 3rd, then the 1st, each fitted on the network that
already has the earlier replacement). Runs ask for it as the surgery ``lda_downsample`` with
``layer=L, weights=FILE`` (lists for several; ``train/surgery.py``), applied after the model is
built. A value it cannot use raises ``BuildError`` naming the argument (``layer`` or ``weights``).

Per output (Sec. 3.6 back-transform, see ``poolbench.pools.lda``):
out_km(c) = sum_n p_kmn x_n(c) + (1 - sum_n p_kmn) fbar(c), fbar the fitting set's channel means.
p and fbar are non-persistent buffers rebuilt from the weights file named in the run's config, so
the module holds no state of its own and packs (``pack``) like the option-A shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import torch
import torch.nn as nn

from ..build_error import BuildError
from ..pools.base import WeightMap
from ..pools.lda import back_transform_mean, load_lda_weights, pool_with, save_lda_weights

KIND = "downsample"


class DownsamplingModel(Protocol):
    """What the surgery needs of a model: the zoo's convention (``models.head.PooledClassifier``),
    stages[L][0] for L >= 1 a stride-2 entry that ``entry_block`` rebuilds."""

    stages: nn.ModuleList
    stage_channels: list[int]

    def entry_block(self, in_ch: int, out_ch: int, stride: int) -> nn.Module: ...


def downsampling_layers(model: nn.Module) -> int:
    """How many replaceable stride-2 downsamplings ``model`` has (0 if it does not follow the convention)."""
    stages = getattr(model, "stages", None)
    if getattr(model, "downsample_entry", None) is None or stages is None:
        return 0
    return len(stages) - 1


def entry_stage(model: DownsamplingModel, layer: int) -> nn.Sequential:
    """stages[layer], whose first module is the downsampling (the zoo's stages are Sequentials of blocks)."""
    return cast(nn.Sequential, model.stages[layer])


def downsampling_model(model: nn.Module, layer: int) -> DownsamplingModel:
    """``model`` as the surgery sees it, once ``check_lda_layer`` has found ``layer`` replaceable."""
    check_lda_layer(model, layer)
    return cast(DownsamplingModel, model)


def check_lda_layer(model: nn.Module, layer: int) -> None:
    """``BuildError`` (a ValueError) naming ``layer`` and what to do, for a layer this model cannot replace."""
    n = downsampling_layers(model)
    if n == 0:
        raise BuildError(
            "layer",
            layer,
            f"{type(model).__name__} has no replaceable downsamplings",
            "use a model that has (cnn4, preact_resnet18 and the CIFAR resnets do), or pool globally "
            "(--layer final, --pool lda)",
        )
    if not 1 <= layer <= n:
        raise BuildError(
            "layer",
            layer,
            f"lda layer must be 1..{n} (the stride-2 downsamplings of {type(model).__name__})",
            "pick one of those; the global pool is --pool lda",
        )


def save_downsample_weights(path: str | Path, p, meta: dict) -> Path:
    """p [K, M, N]: K pooled copies (eigenvectors), M = Ho * Wo outputs, N = H * W inputs."""
    return save_lda_weights(path, p, dict(meta, kind=KIND))


class LDADownsample(nn.Module):
    """[B, C, H, W] -> [B, K*C, Ho, Wo] with fixed closed-form pooling weights p [K, Ho*Wo, H*W].

    Channel order: [copy 0: all C channels, copy 1: all C channels, ...]. ``models`` > 1 is the
    packed form (K models' channels side by side, each pooled with its own p and fbar).
    """

    p: torch.Tensor  # [models, K, M, N] (buffers, registered in __init__)
    channel_mean: torch.Tensor  # [models, C] or [models, 0]
    in_size: tuple[int, int]
    out_size: tuple[int, int]

    def __init__(
        self,
        p: torch.Tensor,
        in_size: Sequence[int],
        out_size: Sequence[int],
        models: int = 1,
        channel_mean: torch.Tensor | None = None,
        per_map: bool = False,
    ):
        super().__init__()
        p = torch.as_tensor(p, dtype=torch.float32)
        if p.dim() == 3:
            p = p[None].expand(models, *p.shape).contiguous()
        h, w, ho, wo = *map(int, in_size), *map(int, out_size)
        if p.dim() != 4 or p.shape[0] != models or p.shape[2:] != (ho * wo, h * w):
            raise ValueError(
                f"LDA downsample weights must be [K, {ho * wo}, {h * w}] for {h}x{w} -> {ho}x{wo}, got {list(p.shape)}"
            )
        mean = torch.zeros(models, 0) if channel_mean is None else torch.as_tensor(channel_mean, dtype=torch.float32)
        if mean.dim() == 1:
            mean = mean[None].expand(models, -1).contiguous()
        self.in_size, self.out_size, self.models, self.per_map = (h, w), (ho, wo), models, per_map
        self.register_buffer("p", p, persistent=False)  # [models, K, M, N]
        self.register_buffer("channel_mean", mean, persistent=False)  # [models, C] (or [models, 0])

    @classmethod
    def from_file(cls, path: str | Path, in_channels: int, out_channels: int) -> LDADownsample:
        p, meta = load_lda_weights(path)
        if meta.get("kind") != KIND:
            raise ValueError(f"{path} holds global-pool weights, not a downsampling (fit it with --layer 1, 2 or 3)")
        if p.shape[0] * in_channels != out_channels:
            raise ValueError(
                f"{path} has {p.shape[0]} pooled copies of {in_channels} channels but the next stage "
                f"needs {out_channels}: fit it with n_out={out_channels // in_channels}"
            )
        mean, per_map = back_transform_mean(meta, in_channels)
        return cls(
            p.reshape(p.shape[0], -1, p.shape[-1]), meta["size"], meta["out_size"], channel_mean=mean, per_map=per_map
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, mc, h, w = x.shape
        if (h, w) != self.in_size:
            raise ValueError(f"LDA downsample was fitted on {self.in_size[0]}x{self.in_size[1]} maps, got {h}x{w}")
        with torch.autocast(x.device.type, enabled=False):
            z = x.float().reshape(b, self.models, mc // self.models, h * w)  # [B, models, C, N]
            out = torch.stack(
                [pool_with(self.p[g], z[:, g], self.channel_mean[g], self.per_map) for g in range(self.models)], 1
            )  # [B, models, K, C, M]
            return out.reshape(b, -1, *self.out_size)

    def pack(self, mods: int | list[LDADownsample]) -> LDADownsample:
        mods = [self] * mods if isinstance(mods, int) else list(mods)
        return LDADownsample(
            torch.cat([m.p for m in mods]),
            self.in_size,
            self.out_size,
            models=len(mods) * self.models,
            channel_mean=torch.cat([m.channel_mean for m in mods]),
            per_map=self.per_map,
        )

    @torch.no_grad()
    def spatial_weights(self) -> torch.Tensor:
        """[K, M, H, W]: each output's weight map (the first packed model's)."""
        return self.p[0].reshape(self.p.shape[1], self.p.shape[2], *self.in_size)

    def weight_maps(self, x: torch.Tensor | None = None) -> list[WeightMap]:
        """The picture (``DrawsWeightMaps``; p is fixed, x is not needed): see ``output_weight_maps``."""
        return output_weight_maps(self.spatial_weights(), self.out_size)

    def extra_repr(self) -> str:
        (h, w), (ho, wo) = self.in_size, self.out_size
        return f"{h}x{w} -> {ho}x{wo}, copies={self.p.shape[1]}, models={self.models}"


def output_weight_maps(w: torch.Tensor, out_size: Sequence[int]) -> list[WeightMap]:
    """A downsampling's weights w [K, M, H, W] (copy k, output m's map over the whole input) as
    pictures: copy 0's top-left, centre and bottom-right outputs, then the last copy's centre."""
    k, m = w.shape[:2]
    wo = int(out_size[1])
    picks = [0, (int(out_size[0]) // 2) * wo + wo // 2, m - 1]
    maps = [WeightMap(f"copy 0, output {divmod(j, wo)}", w[0, j], signed=True) for j in picks]
    return maps + [WeightMap(f"copy {k - 1}, output {divmod(picks[1], wo)}", w[k - 1, picks[1]], signed=True)]


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def with_lda_downsampling(model: nn.Module, layers, weights) -> nn.Module:
    """Replace downsampling L (each of ``layers``) of ``model`` by ``LDADownsample`` from ``weights``
    (a file per layer) followed by the layer's entry module rebuilt at stride 1. In place; returns
    model. ``BuildError`` naming ``layer`` or ``weights`` for what cannot be built."""
    try:
        layers = [int(v) for v in _as_list(layers)]
    except (TypeError, ValueError):
        raise BuildError("layer", layers, "not a layer number (or a list of them)", "e.g. 2 or [3, 1]") from None
    if weights is None or weights == []:
        raise BuildError(
            "layer",
            layers,
            f"lda_layer {layers} needs one lda_weights file per layer, and none was given",
            "fit them with poolbench fit-lda RUN --layer L and give one per layer",
        )
    weights = _as_list(weights)
    if len(layers) != len(weights) or not all(weights):
        raise BuildError(
            "weights",
            weights,
            f"lda_layer {layers} needs one lda_weights file per layer",
            "fit them with poolbench fit-lda RUN --layer L and give one per layer",
        )
    if len(set(layers)) != len(layers):
        raise BuildError("layer", layers, "the list repeats a layer", "name each layer once")
    for layer, path in zip(layers, weights, strict=True):
        staged = downsampling_model(model, layer)
        c_in, c_out = staged.stage_channels[layer - 1], staged.stage_channels[layer]
        try:
            pool = LDADownsample.from_file(path, c_in, c_out)
        except (OSError, ValueError) as exc:  # a missing, foreign or misfitted file, named as the file
            raise BuildError(
                "weights",
                path,
                f"cannot be used at layer {layer} ({exc})",
                "fit it with poolbench fit-lda RUN --layer L",
            ) from exc
        entry_stage(staged, layer)[0] = nn.Sequential(pool, staged.entry_block(c_out, c_out, 1))
    return model
