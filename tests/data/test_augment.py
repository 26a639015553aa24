"""Batched augmentation: exactly RandomCrop(32, padding=4) + horizontal flip, seeded, vectorised."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from poolbench.data.augment import batch_flip, batch_random_crop, crop_gather, normalize, pad_to


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 64, size: int = 32) -> torch.Tensor:
    return torch.randint(1, 256, (n, 3, size, size), generator=gen(123), dtype=torch.uint8)


def test_pad_to_centres_28_in_32():
    x = images(4, 28)
    y = pad_to(x, 32)
    assert y.shape == (4, 3, 32, 32) and y.dtype == torch.uint8
    assert torch.equal(y[:, :, 2:30, 2:30], x)
    assert y[:, :, :2].eq(0).all() and y[:, :, 30:].eq(0).all() and y[..., :2].eq(0).all() and y[..., 30:].eq(0).all()
    x32 = images(2)
    assert pad_to(x32, 32) is x32  # already 32x32: no copy
    with pytest.raises(ValueError):
        pad_to(images(1, 40), 32)


def test_crop_without_padding_is_identity():
    x = images()
    assert torch.equal(batch_random_crop(x, 32, 0, gen()), x)


def test_every_crop_is_a_shift_of_the_zero_padded_image():
    x = images(40)
    out = batch_random_crop(x, 32, 4, gen())
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = set()
    for i in range(len(x)):
        match = [
            (a, b) for a in range(9) for b in range(9) if torch.equal(out[i], padded[i, :, a : a + 32, b : b + 32])
        ]
        assert match, f"image {i} is not a crop of its padded self"
        offsets.add(match[0])
    assert len(offsets) > 15  # each image draws its own offset
    # the inputs have no zero pixel, so zeros can only come from the padding, at the edges
    zero_rows = out.eq(0).all(1).all(2)  # [N, 32]: row entirely zero
    assert zero_rows.any() and not zero_rows[:, 4:28].any()


def test_the_gpu_gather_crop_copies_the_same_pixels_as_the_cpu_loop():
    """batch_random_crop takes a single gather on a GPU; on the same offsets it must equal the loop."""
    x = images(200)
    g = gen(3)
    dy, dx = torch.randint(9, (200,), generator=g), torch.randint(9, (200,), generator=g)
    want = batch_random_crop(x, 32, 4, gen(3))  # the CPU loop, drawing dy then dx from the same seed
    assert torch.equal(crop_gather(F.pad(x, (4, 4, 4, 4)), dy, dx, 32), want)


def test_flip_is_its_own_inverse_and_per_image():
    x = images()
    once = batch_flip(x, gen(5))
    flipped = [not torch.equal(once[i], x[i]) for i in range(len(x))]
    assert 10 < sum(flipped) < 54
    assert all(torch.equal(once[i], x[i].flip(-1) if f else x[i]) for i, f in enumerate(flipped))
    assert torch.equal(batch_flip(once, gen(5)), x)


def test_seeded_generator_makes_it_deterministic():
    x = images()
    a = batch_flip(batch_random_crop(x, 32, 4, gen(7)), gen(8))
    b = batch_flip(batch_random_crop(x, 32, 4, gen(7)), gen(8))
    c = batch_flip(batch_random_crop(x, 32, 4, gen(9)), gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_normalize():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    x[:, 1] = 0
    y = normalize(x, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    assert y.dtype == torch.float32
    assert torch.allclose(y[:, 0], torch.tensor(2.0)) and torch.allclose(y[:, 1], torch.tensor(-1.0))
    assert torch.allclose(y[:, 2], torch.tensor(0.5))
    again = normalize(x, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))  # the cached statistics are not modified
    assert torch.equal(again, y)
    with pytest.raises(ValueError):
        normalize(x, (0.5,), (0.5,))
    with pytest.raises(TypeError):
        normalize(x.float(), (0.5,) * 3, (0.5,) * 3)
