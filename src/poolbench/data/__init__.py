"""Datasets as uint8 tensors (decoded once, cached) and the protocol's batched augmentation.

>>> from poolbench.data import load_dataset, split_validation
>>> ds = load_dataset("synthetic")          # or cifar10, cifar100, fashion_mnist, mnist, imagefolder
>>> ds.train_x.shape, ds.num_classes
(torch.Size([5000, 3, 32, 32]), 10)

Sources: ``cifar.py`` (official python archives, MD5 + download), ``svhn.py`` (official .mat files,
MD5 + download), ``idx.py`` (MNIST, Fashion-MNIST),
``imagefolder.py`` (train/<class>/*, test/<class>/* folders or tars), ``synthetic.py`` (generated);
``datasets.py`` (``Dataset``, ``load_dataset``, the cache, ``split_validation``); ``augment.py``.
"""

from __future__ import annotations

from .datasets import Dataset, list_datasets, load_dataset, split_validation
from .errors import ChecksumError, CorruptDataError, DataError, DatasetNotFoundError

__all__ = [
    "Dataset",
    "load_dataset",
    "list_datasets",
    "split_validation",
    "DataError",
    "DatasetNotFoundError",
    "ChecksumError",
    "CorruptDataError",
]
