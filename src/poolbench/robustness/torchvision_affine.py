"""``torchvision.transforms.functional.affine`` on a PIL image as Hendrycks & Dietterich's
CIFAR-10-P generator called it (torchvision 0.2-0.7, 2018-2020), re-derived on Pillow.

That torchvision rotates / scales / shears about ``c = (w/2 + 1/2, h/2 + 1/2)`` in Pillow's
continuous coordinates (pixel i spans [i, i+1]), i.e. about the centre of pixel (16, 16) of a
32x32 image, and hands Pillow the inverse map

    [x_in; y_in] = (1/s) R^-1 [x_out - c_x - t_x; y_out - c_y - t_y] + c,
    R^-1 = [[cos(a+sh), sin(a+sh)], [-sin a, cos a]] / (cos(a+sh) cos a + sin(a+sh) sin a),

with angle a and shear sh in degrees. Pillow samples it with the chosen filter; output pixels whose
source falls outside the image are black (the sets' border handling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image


def inverse_affine_matrix(
    center: tuple[float, float], angle: float, translate: Sequence[float], scale: float, shear: float
) -> tuple[float, ...]:
    a, sh = math.radians(angle), math.radians(shear)
    d = math.cos(a + sh) * math.cos(a) + math.sin(a + sh) * math.sin(a)
    m = [math.cos(a + sh), math.sin(a + sh), 0.0, -math.sin(a), math.cos(a), 0.0]
    m = [m_i / scale / d for m_i in m]
    tx, ty = center[0] + translate[0], center[1] + translate[1]
    m[2] = m[0] * -tx + m[1] * -ty + center[0]
    m[5] = m[3] * -tx + m[4] * -ty + center[1]
    return tuple(m)


def affine(
    img: np.ndarray,
    angle: float = 0.0,
    translate: Sequence[float] = (0, 0),
    scale: float = 1.0,
    shear: float = 0.0,
    bilinear: bool = True,
) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [H, W, 3]; ``bilinear=False`` is Pillow's nearest (torchvision's default)."""
    h, w = img.shape[:2]
    matrix = inverse_affine_matrix((w * 0.5 + 0.5, h * 0.5 + 0.5), angle, translate, scale, shear)
    pil = Image.fromarray(img)
    out = pil.transform((w, h), Image.AFFINE, matrix, Image.BILINEAR if bilinear else Image.NEAREST)
    return np.asarray(out)
