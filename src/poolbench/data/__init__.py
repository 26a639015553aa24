"""Datasets as uint8 tensors (decoded once, cached) and the protocol's batched augmentation.

>>> from poolbench.data import load_dataset, split_validation
>>> ds = load_dataset("synthetic")          # or cifar10, cifar100, fashion_mnist, mnist, imagefolder
>>> ds.train_x.shape, ds.num_classes
(torch.Size([5000, 3, 32, 32]), 10)

Sources, each registering its names with ``@register_dataset``: ``cifar.py`` (official python
archives, MD5 + download; a JPEG copy through ``cifar_copy.py``), ``svhn.py`` (official .mat files,
MD5 + download), ``idx.py`` (MNIST, Fashion-MNIST), ``imagefolder.py`` (train/<class>/*,
test/<class>/* folders or tars), ``synthetic.py`` and ``patterns.py`` (generated); ``datasets.py``
(``Dataset``, ``load_dataset``, the registry, the cache, ``split_validation``); ``augment.py``.
A new dataset is one file here with a reader decorated by ``@register_dataset``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .datasets import Dataset, list_datasets, load_dataset, register_dataset, split_validation
from .errors import ChecksumError, CorruptDataError, DataError, DatasetNotFoundError

# Import every module so each reader's @register_dataset runs (one source format per file).
for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")

__all__ = [
    "Dataset",
    "load_dataset",
    "list_datasets",
    "register_dataset",
    "split_validation",
    "DataError",
    "DatasetNotFoundError",
    "ChecksumError",
    "CorruptDataError",
]
