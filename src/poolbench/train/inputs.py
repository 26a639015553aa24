"""A run's inputs: its images on the training device and the batches of each epoch, seeded by (seed, epoch).

After airbench: the dataset lives on the training device as uint8; each epoch is augmented at once
with batched tensor ops (RandomCrop(32, pad 4, zeros) + flip) from a generator seeded by
(seed, epoch), so the batch composition of epoch e never depends on whether the run was
interrupted. The model's own randomness (dropout, stochastic pools) is reseeded from
``seed_for(seed, epoch, "model")`` by the training step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from ..data.augment import batch_flip, batch_random_crop, normalize, normalize_per_image, pad_to
from .config import RunConfig
from .data import select_data

IMAGE_SIZE = 32  # every model sees 32x32 (28x28 sources are zero-padded, see data/augment.py)


@dataclass
class RunData:
    """Uint8 images and labels on the training device, plus what normalisation needs."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    in_chans: int
    input_norm: str = "dataset"  # the protocol's: "dataset" (per-channel mean/std) or "image"

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the float model inputs, normalised as the protocol says."""
        if self.input_norm == "image":
            return normalize_per_image(x)
        return normalize(x, self.mean, self.std)


def prepare_data(config: RunConfig, device: torch.device) -> RunData:
    sel = select_data(config.data_selection())
    ds = sel.dataset

    def put(x: torch.Tensor) -> torch.Tensor:
        return pad_to(x, IMAGE_SIZE).to(device, non_blocking=True)

    return RunData(
        train_x=put(sel.train_x),
        train_y=sel.train_y.to(device),
        test_x=put(sel.test_x),
        test_y=sel.test_y.to(device),
        val_x=None if sel.val_x is None else put(sel.val_x),
        val_y=None if sel.val_y is None else sel.val_y.to(device),
        mean=tuple(ds.mean),
        std=tuple(ds.std),
        num_classes=ds.num_classes,
        in_chans=ds.in_chans,
        input_norm=config.protocol.input_norm,
    )


def seed_for(seed: int, epoch: int, salt: str) -> int:
    """The 63-bit seed of one random stream ("data": the epoch's batches, "model": dropout and
    stochastic pools) of run seed ``seed`` at ``epoch``: a pure function, so a resumed run draws
    what an uninterrupted one draws."""
    digest = hashlib.sha256(f"{salt}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def epoch_batches(data: RunData, seed: int, epoch: int, batch_size: int, augment: str = "crop_flip"):
    """The augmented, shuffled training batches of one epoch: a pure function of (seed, epoch).

    The last partial batch is kept (50000 = 390 * 128 + 80 -> 391 steps), as the protocol says.
    """
    g = torch.Generator(device=data.train_x.device).manual_seed(seed_for(seed, epoch, "data"))
    perm = torch.randperm(len(data.train_y), generator=g, device=data.train_x.device)
    x = data.train_x[perm]
    if augment == "crop_flip":
        x = batch_flip(batch_random_crop(x, IMAGE_SIZE, 4, g), g)
    elif augment != "none":
        raise ValueError(f"unknown augmentation {augment!r}")
    y = data.train_y[perm]
    for i in range(0, len(y), batch_size):
        yield x[i : i + batch_size], y[i : i + batch_size]
