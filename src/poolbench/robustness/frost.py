"""The frost photographs of CIFAR-10-C's ``frost`` corruption, read at run time from the
``imagecorruptions`` package (Apache-2.0, bethgelab), which ships the six files of Hendrycks &
Dietterich's generator; install it with ``pip install 'poolbench[robustness]'``. Nothing is copied
into this repository.

Each picture is decoded to RGB (alpha dropped, as OpenCV's ``imread`` does) and resized by 1/5 as
the generator's ``cv2.resize(fx=0.2, fy=0.2)`` does (``opencv_equiv.subsample_resize``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from .opencv_equiv import subsample_resize

FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
EXTRA_HINT = "frost needs the frost photographs of the 'imagecorruptions' package: pip install 'poolbench[robustness]'"


def frost_dir() -> Path:
    """The package's frost folder (located without importing the package, which imports OpenCV)."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(EXTRA_HINT)
    folder = Path(list(spec.submodule_search_locations)[0]) / "frost"
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}; {EXTRA_HINT}")
    return folder


@functools.lru_cache(maxsize=1)
def frost_pictures() -> list[np.ndarray]:
    """The six pictures as uint8 RGB arrays, resized by 1/5."""
    folder = frost_dir()
    return [subsample_resize(np.asarray(Image.open(folder / f).convert("RGB")), 0.2) for f in FILES]


def available() -> bool:
    try:
        frost_dir()
        return True
    except ValueError:
        return False
