"""Put a pool into a classifier someone else built: ``swap_pool(model, "gem", p=3.0)``.

Where a built classifier keeps its global pool, by library:
  * poolbench: ``head.pool``, read by ``head.fc`` (``models/head.py``);
  * timm: ``global_pool`` (ResNet, EfficientNet, ...) or ``head.global_pool`` (RegNet, ConvNeXt,
    ...), a ``SelectAdaptivePool2d`` read by ``fc`` / ``head.fc`` (or by a conv head, MobileNetV3);
  * torchvision: ``avgpool`` (ResNet, VGG, EfficientNet, ...), whose output the model's forward
    flattens (``torch.flatten(x, 1)``) and hands to ``fc`` or ``classifier``.
``swap_pool`` looks for a module at those names and takes the shallowest (a block's own pool, such
as the ``avgpool`` of torchvision's squeeze-excitation blocks in EfficientNet, lies deeper). It
refuses (a ``ValueError`` naming the model and what it found) when there is none (a pool applied as
a function, as torchvision's MobileNetV2 and DenseNet do, or timm's token pooling, a string) or
more than one at that depth (two models in one container: swap each one's pool by itself).

The module that reads the pool is the first one registered after it in the pool's parent (inside
an ``nn.Sequential`` such as torchvision's ``classifier``), skipping dropout, flatten and identity.
When the new pool's width (``pooled_width``) differs from the width that module reads, a Linear
there is replaced by a new ``nn.Linear`` of the new width and the same number of outputs, with
PyTorch's default initialisation (as timm's ``reset_classifier`` builds it): its trained weights
are gone, re-train it. Any other module there (a LayerNorm as in ConvNeXt's head, a 1x1 conv as in
MobileNetV3's) is sized for the old width, so a width-changing pool is refused there; a pool of
the same width goes in. The channels the pool receives are ``in_channels`` where given, else the
model's ``num_features`` (poolbench, timm), else the reader's width over the old pool's width per
channel (torchvision: 25088 / 49 for VGG's 7x7 ``avgpool``).

The new pool returns what the old one returned: [B, C', 1, 1] where the old kept the map's rank
(torchvision's ``nn.AdaptiveAvgPool2d(1)``, so that its ``torch.flatten(x, 1)`` and any 4-d module
after it still work), [B, C'] where it flattened. Where that needs a reshape the pool is wrapped
in ``ReshapedPool`` (the pool itself is its ``.pool``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn

from . import build_pool
from .base import GlobalPool, pooled_width

#: Module names that hold a global pool: timm's and torchvision's. poolbench's is ``head.pool``.
POOL_NAMES = ("global_pool", "avgpool")
#: Modules that pass the pooled features on unchanged in width: skipped on the way to the reader.
PASS_THROUGH: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.Flatten,
    nn.Identity,
)


class ReshapedPool(nn.Module):
    """A pool whose output is reshaped to the rank its slot's reader expects: [B, width, 1, 1]
    (``keepdim``) or [B, width]. ``feat_mult()`` and ``out_features`` are the pool's own."""

    def __init__(self, pool: nn.Module, keepdim: bool):
        super().__init__()
        self.pool = pool
        self.keepdim = keepdim

    def feat_mult(self) -> int:
        mult = getattr(self.pool, "feat_mult", 1)
        return int(mult() if callable(mult) else mult)

    def out_features(self, in_channels: int) -> int:
        return pooled_width(self.pool, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x).flatten(1)
        return y[:, :, None, None] if self.keepdim else y

    def extra_repr(self) -> str:
        return f"keepdim={self.keepdim}"


def swap_pool(model: nn.Module, pool: Any, in_channels: int | None = None, **pool_args: Any) -> nn.Module:
    """Replace the global pool of a poolbench, timm or torchvision classifier; returns ``model``
    (changed in place).

    ``pool``: a registered name, a pool class (built with ``pool_args``, and ``channels=C`` where
    it takes it) or a ready module. ``in_channels``: the channels the pool receives, where the
    model does not say (``model.num_features``, as poolbench and timm models do) and they cannot
    be read off the old pool and its Linear. A Linear after the pool is replaced, freshly
    initialised, when the width changes (see the module docstring); otherwise it is kept.
    """
    what = f"{type(model).__module__}.{type(model).__name__}"
    if isinstance(pool, nn.Module) and pool_args:
        raise ValueError(
            f"swap_pool: pool arguments {sorted(pool_args)} given with a ready module; pass its name or class"
        )
    slot, old = _find_slot(model, what)
    parent_path, _, attr = slot.rpartition(".")
    parent = model.get_submodule(parent_path)
    reader_path, reader = _reader(parent, parent_path, attr)
    reads = _width_read(reader)
    channels = _in_channels(model, old, reads, in_channels, what, slot)
    old_shape = _probe(old, channels)
    if old_shape is not None and reads is not None and _numel(old_shape) != reads:
        raise ValueError(
            f"swap_pool: {what}: {slot} returns {_numel(old_shape)} features for {channels} channels but "
            f"{reader_path} reads {reads}; pass in_channels= with the channels {slot} receives"
        )

    new = build_pool(pool, channels, **pool_args)
    width = pooled_width(new, channels)
    old_width = reads if reads is not None or old_shape is None else _numel(old_shape)
    if width != old_width and reader is not None and not isinstance(reader, nn.Linear):
        raise ValueError(
            f"swap_pool: {what}: {reader_path} ({type(reader).__name__}) reads {slot}'s {old_width} features and "
            f"cannot be resized; the new pool returns {width}: choose a pool of the same width here"
        )
    keepdim = old_shape is not None and len(old_shape) == 4
    if keepdim or not isinstance(new, GlobalPool):
        new = ReshapedPool(new, keepdim)
    device = next(model.parameters(), torch.empty(0)).device
    setattr(parent, attr, new.to(device).train(model.training))
    if isinstance(reader, nn.Linear) and reader.in_features != width:
        linear = nn.Linear(width, reader.out_features, bias=reader.bias is not None)
        linear = linear.to(device=reader.weight.device, dtype=reader.weight.dtype)
        reader_parent, _, reader_attr = reader_path.rpartition(".")
        setattr(model.get_submodule(reader_parent), reader_attr, linear)
    return model


def _find_slot(model: nn.Module, what: str) -> tuple[str, nn.Module]:
    found = [
        (path, m)
        for path, m in model.named_modules()
        if path.rpartition(".")[2] in POOL_NAMES or path == "head.pool" or path.endswith(".head.pool")
    ]
    # The shallowest: a block's own pool (torchvision's squeeze-excitation ``avgpool``) is deeper.
    depth = min((path.count(".") for path, _ in found), default=0)
    found = [(path, m) for path, m in found if path.count(".") == depth]
    if not found:
        hint = ""
        for name in POOL_NAMES:
            value = getattr(model, name, None)
            if value is not None and not isinstance(value, nn.Module):
                hint = f"; its {name} is {value!r}, not a module"
        raise ValueError(
            f"swap_pool: {what} has no global pool module (looked for modules named "
            f"{', '.join(POOL_NAMES)} or head.pool{hint}); a model that pools with a function cannot be swapped"
        )
    if len(found) > 1:
        paths = ", ".join(p for p, _ in found)
        raise ValueError(
            f"swap_pool: {what} has {len(found)} global pools ({paths}); swap each sub-model's pool by itself"
        )
    return found[0]


def _after(parent: nn.Module, parent_path: str, attr: str) -> Iterator[tuple[str, nn.Module]]:
    """The modules registered after ``attr`` in ``parent``, inside Sequentials, in order."""
    seen = False
    for name, child in parent.named_children():
        if seen:
            yield from _flat(child, f"{parent_path}.{name}" if parent_path else name)
        seen = seen or name == attr


def _flat(module: nn.Module, path: str) -> Iterator[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _flat(child, f"{path}.{name}")
    else:
        yield path, module


def _reader(parent: nn.Module, parent_path: str, attr: str) -> tuple[str, nn.Module | None]:
    """The first module after the pool that uses its features (None: nothing reads them here)."""
    for path, module in _after(parent, parent_path, attr):
        if not isinstance(module, PASS_THROUGH):
            return path, module
    return "", None


def _width_read(reader: nn.Module | None) -> int | None:
    """How many features the reader takes (None: it does not say)."""
    if isinstance(reader, nn.Linear):
        return reader.in_features
    if isinstance(reader, nn.modules.conv._ConvNd | nn.modules.batchnorm._NormBase):
        return reader.in_channels if isinstance(reader, nn.modules.conv._ConvNd) else reader.num_features
    shape = getattr(reader, "normalized_shape", None)  # LayerNorm, and torchvision's / timm's LayerNorm2d
    return int(shape[0]) if isinstance(shape, tuple | list) and len(shape) == 1 else None


def _in_channels(model: nn.Module, old: nn.Module, reads: int | None, given: int | None, what: str, slot: str) -> int:
    if given is not None:
        return given
    num_features = getattr(model, "num_features", None)
    if isinstance(num_features, int) and num_features > 0:
        return num_features
    per_channel = _probe(old, 1)  # a channel-wise pool: its width per channel (49 for torchvision VGG's 7x7)
    if per_channel is not None and reads is not None and reads % _numel(per_channel) == 0:
        return reads // _numel(per_channel)
    raise ValueError(
        f"swap_pool: {what}: cannot tell how many channels {slot} receives (no num_features, and "
        f"{type(old).__name__} with the module after it does not say); pass in_channels="
    )


@torch.no_grad()
def _probe(pool: nn.Module, channels: int) -> tuple[int, ...] | None:
    """The old pool's output shape for one [1, channels, 2, 2] map (None: it takes no such map).
    A copy answers, so a pool that sizes itself on its first input stays as it was."""
    pool = copy.deepcopy(pool).eval()
    param = next(pool.parameters(), None)
    try:
        x = torch.zeros(1, channels, 2, 2) if param is None else param.new_zeros(1, channels, 2, 2)
        return tuple(pool(x).shape)
    except Exception:  # noqa: BLE001 - a pool sized for other maps or channels: its shape is unknown
        return None


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape[1:]:
        n *= s
    return n
