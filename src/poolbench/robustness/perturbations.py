"""Perturbation sequences: small, gradually growing changes of each image (CIFAR-10-P style).

After Hendrycks & Dietterich, ICLR 2019, section 3 ("ImageNet-P" / CIFAR-10-P): each clean image
becomes a sequence of frames x_1..x_T whose consecutive frames differ by a small step of one
transformation; a robust classifier keeps its prediction along the sequence. We generate the
geometric and photometric sequences in code:

* ``translate``: horizontal shifts of -4..+4 whole pixels (9 frames, borders reflected; whole
  pixels so that no resampling blur is mixed into the shift);
* ``rotate``: -15..+15 degrees in 1-degree steps (31 frames, bilinear, borders reflected);
* ``scale``: zoom factors 1/1.15..1.15 spaced evenly in log-scale (31 frames, bilinear, reflected);
* ``brightness``: HSV value shifted by -0.15..+0.15 (31 frames, same operation as the corruption).

Every sequence passes through the clean image (its middle frame). The step sizes are ours, chosen
to span about the range of CIFAR-10-P's corresponding sequences; they are constants here, so two
runs are always compared on identical frames.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from .corruptions import brightness as _brightness

TRANSLATE_SHIFTS = list(range(-4, 5))
ROTATE_DEGREES = [float(a) for a in range(-15, 16)]
SCALE_FACTORS = [float(f) for f in np.exp(np.linspace(-math.log(1.15), math.log(1.15), 31))]
BRIGHTNESS_SHIFTS = [float(b) for b in np.linspace(-0.15, 0.15, 31)]


def _affine(x: torch.Tensor, angle_deg: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Rotate by ``angle_deg`` and zoom by ``scale`` about the centre; uint8 in, uint8 out."""
    a = math.radians(angle_deg)
    # affine_grid maps output coords to input coords: the inverse transform (rotate by -a, shrink by 1/scale)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]) / scale
    theta = theta.expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _translate(x: torch.Tensor, shift: int) -> torch.Tensor:
    if shift == 0:
        return x.clone()
    pad = abs(shift)
    padded = F.pad(x.float(), (pad, pad, 0, 0), mode="reflect").to(torch.uint8)
    start = pad - shift  # a positive shift moves the content to the right
    return padded[..., start:start + x.shape[-1]]


def _bright(x: torch.Tensor, shift: float) -> torch.Tensor:
    out = _brightness(x.numpy().astype(np.float64) / 255.0, 1, None, shift=shift)
    return torch.from_numpy(np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8))


PERTURBATIONS: Dict[str, List[Callable[[torch.Tensor], torch.Tensor]]] = {
    "translate": [lambda x, s=s: _translate(x, s) for s in TRANSLATE_SHIFTS],
    "rotate": [lambda x, a=a: _affine(x, angle_deg=a) for a in ROTATE_DEGREES],
    "scale": [lambda x, f=f: _affine(x, scale=f) for f in SCALE_FACTORS],
    "brightness": [lambda x, b=b: _bright(x, b) for b in BRIGHTNESS_SHIFTS],
}


def num_frames(name: str) -> int:
    return len(PERTURBATIONS[name])


def frame(images: torch.Tensor, name: str, t: int) -> torch.Tensor:
    """Frame ``t`` (0-based) of perturbation ``name`` for uint8 images [N, C, H, W] (on the CPU)."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; valid: {', '.join(PERTURBATIONS)}")
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"frame expects uint8 [N, C, H, W] images, got {images.dtype} {tuple(images.shape)}")
    return PERTURBATIONS[name][t](images.cpu())
