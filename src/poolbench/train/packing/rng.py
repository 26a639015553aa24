"""Per-member random streams for packed models: each member draws exactly its separate run's numbers.

A separate run reseeds the global RNG at every epoch (``inputs.seed_for(seed, epoch, "model")``) and
its dropout / stochastic pool draw from it. In a packed network every member keeps its own RNG state
instead; its pool and dropout run with that state swapped in, so they draw the numbers of its own
separate run (the data order comes from ``inputs.epoch_batches(data, seed_k, epoch)``, already per
member).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class MemberRNG:
    """One global-RNG state per packed model, swapped in around that model's random draws.

    ``states`` is None until ``seed`` is called (then a packed model draws from the global RNG like
    any module). Only the pool and dropout draw, so only they run inside ``call``.
    """

    def __init__(self, k: int):
        self.k = k
        self.states: list[torch.Tensor] | None = None
        self.device = torch.device("cpu")

    def seed(self, seeds: Sequence[int], device: torch.device | str) -> None:
        """Each model's state as right after ``torch.manual_seed(seeds[k])`` (what the engine does)."""
        self.device = torch.device(device)
        states = []
        for s in seeds:
            with torch.random.fork_rng(devices=self._cuda()):
                torch.manual_seed(s)
                states.append(self._get())
        self.states = states

    def _cuda(self) -> list[torch.device]:
        return [self.device] if self.device.type == "cuda" else []

    def _get(self) -> torch.Tensor:
        return torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.get_rng_state()

    def _set(self, state: torch.Tensor) -> None:
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state, self.device)
        else:
            torch.set_rng_state(state)

    def call(self, k: int, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
        """``fn(*args)`` drawing from model k's stream (which it advances), the global one left as it was."""
        if self.states is None:
            return fn(*args)
        outside = self._get()
        self._set(self.states[k])
        try:
            return fn(*args)
        finally:
            self.states[k] = self._get()
            self._set(outside)
