"""MemberRNG: each member draws exactly the numbers of its own run; the global stream is left alone."""

from __future__ import annotations

import pytest
import torch

from poolbench.train.packing import MemberRNG


def test_each_member_draws_its_own_runs_numbers_and_the_global_stream_is_untouched():
    rng = MemberRNG(2)
    rng.seed([5, 7], torch.device("cpu"))
    torch.manual_seed(99)
    outside = torch.get_rng_state()
    got: list[list[torch.Tensor]] = [[], []]
    for _ in range(2):  # the members' draws interleaved, as the pools of one packed forward
        for k in (0, 1):
            got[k].append(rng.call(k, torch.rand, 3))
    assert torch.equal(torch.get_rng_state(), outside)
    for k, seed in enumerate([5, 7]):
        torch.manual_seed(seed)
        first, second = torch.rand(3), torch.rand(3)
        assert torch.equal(got[k][0], first) and torch.equal(got[k][1], second)


def test_an_unseeded_rng_draws_from_the_global_stream():
    rng = MemberRNG(2)
    torch.manual_seed(3)
    a = rng.call(1, torch.rand, 4)
    torch.manual_seed(3)
    assert torch.equal(a, torch.rand(4))


def test_a_failing_draw_still_restores_the_global_stream():
    rng = MemberRNG(1)
    rng.seed([1], "cpu")
    outside = torch.get_rng_state()

    def boom(n):
        torch.rand(n)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        rng.call(0, boom, 2)
    assert torch.equal(torch.get_rng_state(), outside)
