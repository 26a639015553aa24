"""Training K runs as one packed network (``poolbench.train.packing``), exactly as K separate runs.

Each member gets its separate run's batches (``inputs.epoch_batches(data, seed_k, epoch)``) and its
own random stream (``MemberRNG``, reseeded every epoch as ``train_run`` reseeds the global RNG); the
loss is sum_k CE_k, so every member's gradient and SGD step are its own run's.

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
import torch.nn.functional as F

from ..runs import DEFAULT_RUNS_DIR, RunDir, RunResult
from . import engine
from .build import autocast, build_model, compiled, make_optimizer, step_begin, to_channels_last
from .callbacks import Callback
from .config import RunConfig
from .fit import fit
from .inputs import RunData, epoch_batches, prepare_data, seed_for
from .loop import EVAL_BATCH
from .packing import (
    NotPackable,
    can_pack,
    load_optimizer_members,
    pack_inputs,
    pack_models,
    unpack_optimizer_state,
    unpack_state,
    verify_pack,
)
from .progress import Progress
from .recorder import RunRecorder


# ----------------------------------------------------------------------------- training
def _nonfinite_per_model(logits: torch.Tensor) -> torch.Tensor:
    """[K] bool (no host sync): does model k's block of the [B, K, n] logits hold a NaN or inf?"""
    return ~torch.isfinite(logits.detach()).all(2).all(0)


def _packed_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model mean cross-entropy [K] (the same call as a separate run's, model by model)."""
    return torch.stack([F.cross_entropy(logits[:, k].float(), y[:, k]) for k in range(logits.shape[1])])


def train_packed_epoch(
    packed: nn.Module,
    k: int,
    opt: torch.optim.Optimizer,
    data: RunData,
    configs: Sequence[RunConfig],
    epoch: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """One epoch for K packed models; each model gets exactly its separate run's batches.
    ``on_step(i)`` is called after step i (1-based), as in ``loop.train_epoch``."""
    cfg = configs[0]
    packed.train()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)  # a non-finite logit, per model
    n = 0
    streams = [epoch_batches(data, c.seed, epoch, cfg.protocol.batch_size, cfg.protocol.augment) for c in configs]
    for batches in zip(*streams, strict=True):
        step_begin(cfg)
        x = pack_inputs([data.inputs(xb) for xb, _ in batches])
        y = torch.stack([yb for _, yb in batches], 1)  # [B, K]
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(cfg, device):
            logits = packed(x)
        losses = _packed_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # d(sum_k CE_k)/d(theta_k) = dCE_k/d(theta_k): each its own run
        opt.step()
        loss_sum += losses.detach() * len(y)
        correct += (logits.detach().argmax(2) == y).sum(0)
        bad |= _nonfinite_per_model(logits)
        n += len(y)
        if on_step is not None:
            on_step(-(-n // cfg.protocol.batch_size))
    # one host sync per epoch; NaN marks a model with a non-finite logit (as loop.train_epoch)
    losses_l, correct_l = torch.where(bad, float("nan"), loss_sum / n).tolist(), correct.tolist()
    return {"train_loss": losses_l, "train_acc": [100.0 * c / n for c in correct_l]}


@torch.no_grad()
def evaluate_packed(
    packed: nn.Module,
    k: int,
    x: torch.Tensor,
    y: torch.Tensor,
    data: RunData,
    config: RunConfig,
    device: torch.device,
) -> tuple[list[float], list[float]]:
    """Per-model (mean cross-entropy, accuracy %) on shared images; one host sync at the end."""
    packed.eval()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)
    for i in range(0, len(y), EVAL_BATCH):
        step_begin(config)
        xb = data.inputs(x[i : i + EVAL_BATCH]).repeat(1, k, 1, 1)
        yb = y[i : i + EVAL_BATCH]
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(config, device):
            logits = packed(xb).float()
        loss_sum += torch.stack([F.cross_entropy(logits[:, j], yb, reduction="sum") for j in range(k)])
        correct += (logits.argmax(2) == yb[:, None]).sum(0)
        bad |= _nonfinite_per_model(logits)
    losses = torch.where(bad, float("nan"), loss_sum / len(y))
    return losses.tolist(), [100.0 * c / len(y) for c in correct.tolist()]


class PackedTrainer:
    """The live packed network of the members still training, with its optimizer: the
    ``fit.Trainer`` of K > 1. ``checkpoints[k]`` (or None) is member k's run checkpoint to resume."""

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

    def train_epoch(self, epoch: int, lr: float, on_step: Callable[[int], None] | None) -> list[dict[str, float]]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.net.rng.seed([seed_for(c.seed, epoch, "model") for c in self.members], self.device)
        tr = train_packed_epoch(
            self.step_model, len(self.members), self.opt, self.data, self.members, epoch, self.device, on_step
        )
        return [
            {"train_loss": loss, "train_acc": acc} for loss, acc in zip(tr["train_loss"], tr["train_acc"], strict=True)
        ]

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        return evaluate_packed(self.step_model, len(self.members), x, y, self.data, self.members[0], self.device)

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
    told every run's hooks, as ``train_run`` tells them.
    """
    configs = list(configs)
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
