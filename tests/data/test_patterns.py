"""The generated ``patterns`` dataset: deterministic, balanced, CIFAR-shaped, and its label is in the pixels."""

import torch

from poolbench.data import patterns
from poolbench.data.datasets import cache_key, load_dataset


def test_generation_is_deterministic_balanced_and_shaped():
    x, y = patterns.generate(101, seed=7)
    x2, y2 = patterns.generate(101, seed=7)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (101, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.bincount(y, minlength=4).tolist() == [26, 25, 25, 25]
    assert not torch.equal(patterns.generate(101, seed=8)[0], x)


def test_strong_classes_have_a_brighter_peak_than_weak_ones():
    """The class's strength is the brightest motif: the peak pixel separates weak from strong on average."""
    x, y = patterns.generate(400, seed=3)
    peak = x.float().amax(dim=(1, 2, 3))
    strong, weak = peak[y % 2 == 1].mean(), peak[y % 2 == 0].mean()
    assert strong > weak + 30  # (0.5 - 0.25) x 255 ~ 64 apart before noise


def test_loads_as_a_dataset_with_a_generator_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLBENCH_CACHE", str(tmp_path))
    ds = load_dataset("patterns")
    assert len(ds.train_y) == patterns.N_TRAIN and len(ds.test_y) == patterns.N_TEST
    assert ds.classes == patterns.CLASSES
    key = cache_key("patterns")
    monkeypatch.setattr(patterns, "STRONG", 0.6)
    assert cache_key("patterns") != key  # a change to the generator is a different dataset
