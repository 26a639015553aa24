"""Training K runs as one packed network (``poolbench.train.packing``), exactly as K separate runs.

The step and the evaluation are one run's (``loop.py``: a single run is a pack of one): each member
gets its separate run's batches and its own random stream (``MemberRNG``, reseeded every epoch as a
single run reseeds the global RNG); the loss is sum_k CE_k, so every member's gradient and SGD step
are its own run's. This module builds the pack, maps its state back to the members, and drives it.

Divergence. Member k's parameters only ever meet member k's activations, so a diverged (NaN) member
cannot touch the others (tested on CPU). It is recorded as diverged at that epoch, exactly as
``train_run`` would, and the pack is rebuilt from the survivors' exact states. The CUDA paths
(MemberRNG's CUDA states, cuDNN's grouped convolutions) have their tests in
tests/train/test_packed_cuda.py, which need a GPU (README, "What is measured", says where they ran).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn as nn

from ..runs import DEFAULT_RUNS_DIR, RunDir, RunResult
from . import engine
from .build import build_model, compiled, make_optimizer, to_channels_last
from .callbacks import Callback
from .config import RunConfig
from .fit import fit
from .inputs import RunData, prepare_data
from .loop import MemberSteps
from .packing import (
    NotPackable,
    can_pack,
    load_optimizer_members,
    pack_models,
    unpack_optimizer_state,
    unpack_state,
    verify_pack,
)
from .progress import Progress
from .recorder import RunRecorder
from .resolve import resolve


class PackedTrainer(MemberSteps):
    """The live packed network of the members still training, with its optimizer: the
    ``fit.Trainer`` of K > 1 (its step and evaluation: ``loop.py``, as one run's). ``checkpoints[k]``
    (or None) is member k's run checkpoint to resume."""

    packed = True

    def __init__(
        self,
        configs: list[RunConfig],
        models: list[nn.Module],
        checkpoints: Sequence[dict[str, Any] | None],
        data: RunData,
        device: torch.device,
    ):
        for m, ck in zip(models, checkpoints, strict=True):
            if ck is not None:
                m.load_state_dict(ck["model"])
        self.members, self.models, self.data, self.device = configs, models, data, device
        self.test_x, self.test_y, self.val_x, self.val_y = data.test_x, data.test_y, data.val_x, data.val_y
        self.steps_per_epoch = -(-len(data.train_y) // configs[0].protocol.batch_size)
        self.net = pack_models(models).to(device)
        if configs[0].channels_last:
            self.net = to_channels_last(self.net)
        verify_pack(self.net, models, data.inputs(data.test_x[:4]))
        self.opt = make_optimizer(self.net, configs[0])
        opt_states = [ck["optimizer"] for ck in checkpoints if ck is not None]
        if len(opt_states) == len(configs):
            load_optimizer_members(self.net, self.opt, opt_states)
        self.step_model = compiled(self.net, configs[0])

    def member_states(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return list(zip(unpack_state(self.net), unpack_optimizer_state(self.net, self.opt), strict=True))

    def without(self, drop: list[int]) -> PackedTrainer | None:
        """A new pack of the members not in ``drop`` (their exact current states), or None."""
        keep = [i for i in range(len(self.members)) if i not in drop]
        if not keep:
            return None
        states = self.member_states()
        return PackedTrainer(
            [self.members[i] for i in keep],
            [self.models[i] for i in keep],
            [{"model": states[i][0], "optimizer": states[i][1]} for i in keep],
            self.data,
            self.device,
        )


def _train_separately(
    configs: Sequence[RunConfig],
    runs_dir: str | Path,
    device: Any,
    progress: bool,
    log: Callable[[str], None] | None,
    why: str,
    callbacks: Sequence[Callback] = (),
) -> list[RunResult]:
    (log or print)(f"not packing: {why}; training the runs one after another")
    return [engine.train_run(c, runs_dir, device, progress, log, callbacks) for c in configs]


def train_packed(
    configs: Sequence[RunConfig],
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    callbacks: Sequence[Callback] = (),
) -> list[RunResult]:
    """Train K runs as one packed network; returns their results in order, like K ``train_run`` calls.

    Each run's directory is written exactly as ``train_run`` writes it (its own checkpoint, loadable
    by ``train_run``, plus ``pack.json`` naming its pack mates). Finished runs are skipped; unfinished
    ones resume from their checkpoints if all stand at the same epoch, else they run one by one, as
    they do when the runs or the model cannot be packed (the reason is printed). ``callbacks`` are
    told every run's hooks, as ``train_run`` tells them. Unresolved configs are resolved here, as
    ``train_run`` does.
    """
    configs = [resolve(c) for c in configs]
    ok, why = can_pack(configs)
    if not ok and len(configs) > 1:
        return _train_separately(configs, runs_dir, device, progress, log, why, callbacks)
    results: dict[str, RunResult] = {}
    for c in configs:
        run = RunDir(runs_dir, c.run_id)
        if run.is_done():
            results[c.run_id] = cast(RunResult, run.read_result())  # written by write_result
    todo = [c for c in configs if c.run_id not in results]
    if len(todo) < 2:
        results.update({c.run_id: engine.train_run(c, runs_dir, device, progress, log, callbacks) for c in todo})
    else:
        results.update(_train_pack(todo, runs_dir, engine.auto_device(device), progress, log, callbacks))
    return [results[c.run_id] for c in configs]


def _train_pack(
    configs: list[RunConfig],
    runs_dir: str | Path,
    device: torch.device,
    progress: bool,
    log: Callable[[str], None] | None,
    callbacks: Sequence[Callback],
) -> dict[str, RunResult]:
    """Train runs none of which is done as one pack, or one by one where they cannot be packed."""
    ckpts = [RunDir(runs_dir, c.run_id).load_checkpoint(map_location=device) for c in configs]
    trainer, why = _pack_trainer(configs, ckpts, device)
    if trainer is None:
        done = _train_separately(configs, runs_dir, device, progress, log, why, callbacks)
        return {c.run_id: r for c, r in zip(configs, done, strict=True)}
    start = len(ckpts[0]["history"]) if ckpts[0] else 0
    bar = Progress(f"pack of {len(configs)}", configs[0].protocol.epochs, start, progress, log)
    recorders = [RunRecorder(c, runs_dir, device, bar.say, name_lines=True) for c in configs]
    fit(trainer, [*recorders, bar, *callbacks], ckpts, f"pack of {len(configs)}")
    return {r.run_id: r.result for r in recorders if r.result is not None}


def _pack_trainer(
    configs: list[RunConfig], ckpts: list[dict[str, Any] | None], device: torch.device
) -> tuple[PackedTrainer | None, str]:
    """The pack of these runs, or (None, why not): runs at different epochs, or a model that
    does not pack. Everything that can fail on bad input fails here, before any run directory exists."""
    if len({len(c["history"]) if c else 0 for c in ckpts}) > 1:
        return None, "the runs stand at different epochs"
    for c in configs:
        engine.check_config(c)
    data = prepare_data(configs[0], device)
    try:
        models = [build_model(c, data).to(device) for c in configs]
        return PackedTrainer(configs, models, ckpts, data, device), ""
    except NotPackable as exc:
        return None, str(exc)
