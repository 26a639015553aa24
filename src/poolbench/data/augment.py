"""The protocol's augmentation as batched tensor functions (after airbench's ``batch_crop`` /
``batch_flip``): a whole epoch of uint8 images is augmented at once, on whatever device holds it.

* ``batch_random_crop(x, 32, 4, g)`` = torchvision ``RandomCrop(32, padding=4)`` (zero padding),
  each image with its own offset;
* ``batch_flip(x, g)`` = ``RandomHorizontalFlip(p=0.5)``, each image its own coin;
* ``normalize`` = ``ToTensor`` + ``Normalize(mean, std)`` with per-dataset statistics;
* ``normalize_per_image``: each image standardised by its own mean and std over all its pixels and
  channels (as TensorFlow's ``per_image_standardization``), for protocols that say "each image is
  normalized separately" (Birodkar et al. 2019, Sec. 6.2, SVHN).

28x28 sources (MNIST, Fashion-MNIST) go through ``pad_to(x, 32)`` first, for train *and* test: 2 zero
pixels on every side, so every model always sees 32x32 and the pixels keep their scale (no
resampling). Training then applies the protocol's crop on top (pad 4 around the 32x32 image).

All randomness comes from the ``torch.Generator`` passed in, so an epoch's augmentation is a pure
function of (generator seed, input).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def pad_to(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Zero-pad [N, C, H, W] images to ``size`` x ``size``, centred (28 -> 32: 2 px each side)."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if h > size or w > size:
        raise ValueError(f"images are {h}x{w}, larger than {size}x{size}: pad_to only pads")
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(x, (left, size - w - left, top, size - h - top))


def _randint(high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # Draw on the generator's device (a CPU generator may drive CUDA data), then move.
    return torch.randint(high, (n,), generator=generator, device=generator.device).to(device)


def batch_random_crop(x: torch.Tensor, size: int, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and take a random ``size`` x ``size`` crop of each image.

    Vectorised over images. On CPU the loop runs over the (2 * padding + 1)^2 possible offsets, each
    copying all images that drew it at once (faster there than one big gather); on a GPU one gather
    does it (the loop's ``nonzero`` would wait for the device 81 times). Both copy the same pixels.
    """
    n, c, h, w = x.shape
    max_y, max_x = h + 2 * padding - size, w + 2 * padding - size
    if max_y < 0 or max_x < 0:
        raise ValueError(f"cannot crop {size}x{size} from {h}x{w} images padded by {padding}")
    dy = _randint(max_y + 1, n, generator, x.device)
    dx = _randint(max_x + 1, n, generator, x.device)
    padded = F.pad(x, (padding,) * 4) if padding else x
    if x.device.type != "cpu":
        return crop_gather(padded, dy, dx, size)
    out = torch.empty((n, c, size, size), dtype=x.dtype, device=x.device)
    for oy in range(max_y + 1):
        for ox in range(max_x + 1):
            idx = ((dy == oy) & (dx == ox)).nonzero().squeeze(1)
            if len(idx):
                out[idx] = padded[idx, :, oy : oy + size, ox : ox + size]
    return out


def crop_gather(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, size: int) -> torch.Tensor:
    """``out[i] = padded[i, :, dy[i]:dy[i]+size, dx[i]:dx[i]+size]`` as one advanced-indexing gather."""
    n, c = padded.shape[:2]
    dev = padded.device
    span = torch.arange(size, device=dev)
    rows = (dy[:, None] + span)[:, None, :, None]  # [n, 1, size, 1]
    cols = (dx[:, None] + span)[:, None, None, :]  # [n, 1, 1, size]
    return padded[
        torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None], rows, cols
    ]


def batch_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 0.5."""
    flip = torch.rand(len(x), generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 ``(x / 255 - mean) / std`` per channel (mean/std on a 0..1 scale)."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"{x.shape[1]} channels but mean/std have {len(mean)}/{len(std)} entries")
    if x.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images (0..255), got {x.dtype}")
    m, s = _scaled_stats(tuple(map(float, mean)), tuple(map(float, std)), x.device)
    return (x.float() - m) / s


@functools.lru_cache(maxsize=16)
def _scaled_stats(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """mean*255 and std*255 as [1, C, 1, 1] tensors on ``device``, made once: building them from a list
    every batch is a blocking host-to-device copy per step on a GPU. (Scaling the statistics up
    instead of dividing the images saves one full-size pass.) Read-only: never modify the result."""
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255.0
    return m, s


def normalize_per_image(x: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32, each image minus its mean over (C, H, W), divided by its std,
    the std floored at 1/sqrt(C*H*W) (``per_image_standardization``'s floor) so a constant image is 0."""
    if x.dtype != torch.uint8:
        raise TypeError(f"normalize_per_image expects uint8 images (0..255), got {x.dtype}")
    z = x.float() / 255.0
    mean = z.mean(dim=(1, 2, 3), keepdim=True)
    std = z.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return (z - mean) / std.clamp_min(1.0 / float(z[0].numel()) ** 0.5)
