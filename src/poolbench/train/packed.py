"""Training K runs as one packed network (``poolbench.train.packing``), exactly as K separate runs.

Each member gets its separate run's batches (``engine.epoch_batches(data, seed_k, epoch)``) and its
own random stream (``MemberRNG``, reseeded every epoch as ``train_run`` reseeds the global RNG); the
loss is sum_k CE_k, so every member's gradient and SGD step are its own run's.

Divergence. Member k's parameters only ever meet member k's activations, so a diverged (NaN) member
cannot touch the others (tested on CPU). It is recorded as diverged at that epoch, exactly as
``train_run`` would, and the pack is rebuilt from the survivors' exact states. The CUDA paths
(MemberRNG's CUDA states, cuDNN's grouped convolutions) are checked by tests/train/test_packed_cuda.py
on a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..runs import RunDir, atomic_write_json
from . import engine
from .config import RunConfig
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
from .progress import interactive


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
    data: engine.RunData,
    configs: Sequence[RunConfig],
    epoch: int,
    device: torch.device,
) -> dict[str, list[float]]:
    """One epoch for K packed models; each model gets exactly its separate run's batches."""
    cfg = configs[0]
    packed.train()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)  # a non-finite logit, per model
    n = 0
    streams = [
        engine.epoch_batches(data, c.seed, epoch, cfg.protocol.batch_size, cfg.protocol.augment) for c in configs
    ]
    for batches in zip(*streams):
        engine.step_begin(cfg)
        x = pack_inputs([data.inputs(xb) for xb, _ in batches])
        y = torch.stack([yb for _, yb in batches], 1)  # [B, K]
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with engine.autocast(cfg, device):
            logits = packed(x)
        losses = _packed_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # d(sum_k CE_k)/d(theta_k) = dCE_k/d(theta_k): each its own run
        opt.step()
        loss_sum += losses.detach() * len(y)
        correct += (logits.detach().argmax(2) == y).sum(0)
        bad |= _nonfinite_per_model(logits)
        n += len(y)
    # one host sync per epoch; NaN marks a model with a non-finite logit (as engine.train_epoch)
    losses_l, correct_l = torch.where(bad, float("nan"), loss_sum / n).tolist(), correct.tolist()
    return {"train_loss": losses_l, "train_acc": [100.0 * c / n for c in correct_l]}


@torch.no_grad()
def evaluate_packed(
    packed: nn.Module,
    k: int,
    x: torch.Tensor,
    y: torch.Tensor,
    data: engine.RunData,
    config: RunConfig,
    device: torch.device,
) -> tuple[list[float], list[float]]:
    """Per-model (mean cross-entropy, accuracy %) on shared images; one host sync at the end."""
    packed.eval()
    loss_sum = torch.zeros(k, device=device)
    correct = torch.zeros(k, device=device, dtype=torch.long)
    bad = torch.zeros(k, device=device, dtype=torch.bool)
    for i in range(0, len(y), engine.EVAL_BATCH):
        engine.step_begin(config)
        xb = data.inputs(x[i : i + engine.EVAL_BATCH]).repeat(1, k, 1, 1)
        yb = y[i : i + engine.EVAL_BATCH]
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with engine.autocast(config, device):
            logits = packed(xb).float()
        loss_sum += torch.stack([F.cross_entropy(logits[:, j], yb, reduction="sum") for j in range(k)])
        correct += (logits.argmax(2) == yb[:, None]).sum(0)
        bad |= _nonfinite_per_model(logits)
    losses = torch.where(bad, float("nan"), loss_sum / len(y))
    return losses.tolist(), [100.0 * c / len(y) for c in correct.tolist()]


class _Pack:
    """The live packed network of the members still training, with its optimizer."""

    def __init__(
        self,
        configs: list[RunConfig],
        models: list[nn.Module],
        model_states: list[dict[str, Any]],
        opt_states: list[dict[str, Any] | None],
        data: engine.RunData,
        device: torch.device,
    ):
        for m, s in zip(models, model_states):
            if s is not None:
                m.load_state_dict(s)
        self.configs, self.models = configs, models
        self.packed = pack_models(models).to(device)
        if configs[0].channels_last:
            self.packed = self.packed.to(memory_format=torch.channels_last)
        verify_pack(self.packed, models, data.inputs(data.test_x[:4]))
        self.opt = engine.make_optimizer(self.packed, configs[0])
        if all(s is not None for s in opt_states):
            load_optimizer_members(self.packed, self.opt, opt_states)
        self.step_model = engine.compiled(self.packed, configs[0])

    def member_states(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return unpack_state(self.packed), unpack_optimizer_state(self.packed, self.opt)

    def without(self, drop: list[int], data: engine.RunData, device: torch.device) -> _Pack | None:
        """A new pack of the members not in ``drop`` (their exact current states), or None."""
        keep = [i for i in range(len(self.configs)) if i not in drop]
        if not keep:
            return None
        ms, os_ = self.member_states()
        return _Pack(
            [self.configs[i] for i in keep],
            [self.models[i] for i in keep],
            [ms[i] for i in keep],
            [os_[i] for i in keep],
            data,
            device,
        )


def _train_separately(
    configs: Sequence[RunConfig],
    runs_dir: str | Path,
    device: Any,
    progress: bool,
    log: Callable[[str], None] | None,
    why: str,
) -> list[dict[str, Any]]:
    (log or print)(f"not packing: {why}; training the runs one after another")
    return [engine.train_run(c, runs_dir, device=device, progress=progress, log=log) for c in configs]


def train_packed(
    configs: Sequence[RunConfig],
    runs_dir: str | Path = "runs",
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train K runs as one packed network; returns their results in order, like K ``train_run`` calls.

    Each run's directory is written exactly as ``train_run`` writes it (its own checkpoint, loadable
    by ``train_run``, plus ``pack.json`` naming its pack mates). Finished runs are skipped; unfinished
    ones resume from their checkpoints if all stand at the same epoch, else they run one by one, as
    they do when the runs or the model cannot be packed (the reason is printed).
    """
    configs = list(configs)
    ok, why = can_pack(configs)
    if not ok and len(configs) > 1:
        return _train_separately(configs, runs_dir, device, progress, log, why)
    runs = [RunDir(runs_dir, c.run_id) for c in configs]
    results: list[dict[str, Any] | None] = [r.read_result() if r.is_done() else None for r in runs]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < 2:
        for i in todo:
            results[i] = engine.train_run(configs[i], runs_dir, device=device, progress=progress, log=log)
        return results  # type: ignore[return-value]
    device = engine.auto_device(device)
    cfgs = [configs[i] for i in todo]
    ckpts = [runs[i].load_checkpoint(map_location=device) for i in todo]
    start = {len(c["history"]) if c else 0 for c in ckpts}
    if len(start) > 1:
        done = _train_separately(cfgs, runs_dir, device, progress, log, "the runs stand at different epochs")
        for i, r in zip(todo, done):
            results[i] = r
        return results  # type: ignore[return-value]
    # Build everything that can fail on bad input before any run directory exists (as train_run).
    for c in cfgs:
        c.protocol.check()
        c.check_weight_files()
        c.check_pool_file()
        c.check_data()
    data = engine.prepare_data(cfgs[0], device)
    try:
        models = [engine.build_model(c, data).to(device) for c in cfgs]
        pack = _Pack(
            cfgs, models, [c and c["model"] for c in ckpts], [c and c["optimizer"] for c in ckpts], data, device
        )
    except NotPackable as exc:
        done = _train_separately(cfgs, runs_dir, device, progress, log, str(exc))
        for i, r in zip(todo, done):
            results[i] = r
        return results  # type: ignore[return-value]
    live = {c.run_id: (runs[i], i) for c, i in zip(cfgs, todo)}
    history = {c.run_id: (ck["history"] if ck else []) for c, ck in zip(cfgs, ckpts)}
    wall = {c.run_id: (ck["wall_time_s"] if ck else 0.0) for c, ck in zip(cfgs, ckpts)}
    for c in cfgs:
        run = live[c.run_id][0]
        run.remove_stale_temp_files()
        run.path.mkdir(parents=True, exist_ok=True)
        engine.write_config(run, c)
        atomic_write_json(run.path / "pack.json", {"packed_with": [x.run_id for x in cfgs], "k": len(cfgs)})
        if history[c.run_id]:
            run.write_metrics(history[c.run_id])  # heal a metrics file that lagged the checkpoint
    epochs = cfgs[0].protocol.epochs
    bar = None
    if progress and interactive():
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start.pop(), desc=f"pack of {len(cfgs)}", unit="ep", leave=False)
    say = log or (bar.write if bar is not None else print)  # whole lines where there is no bar
    try:
        for epoch in range(len(history[cfgs[0].run_id]), epochs):
            if pack is None:
                break
            t0 = time.perf_counter()
            lr = cfgs[0].protocol.lr_at(epoch)
            for group in pack.opt.param_groups:
                group["lr"] = lr
            members = pack.configs
            pack.packed.rng.seed([engine._seed_for(c.seed, epoch, "model") for c in members], device)
            tr = train_packed_epoch(pack.step_model, len(members), pack.opt, data, members, epoch, device)
            # Every member is evaluated (a member diverged in training costs the others nothing): a
            # member whose train, test or validation loss or logit is non-finite is diverged.
            test = evaluate_packed(pack.step_model, len(members), data.test_x, data.test_y, data, cfgs[0], device)
            val = None
            if data.val_x is not None:
                val = evaluate_packed(pack.step_model, len(members), data.val_x, data.val_y, data, cfgs[0], device)
            dt = time.perf_counter() - t0
            recs = [
                {
                    "epoch": epoch + 1,
                    "lr": lr,
                    "train_loss": tr["train_loss"][j],
                    "train_acc": tr["train_acc"][j],
                    "test_loss": test[0][j],
                    "test_acc": test[1][j],
                    "val_acc": None if val is None else val[1][j],
                    "val_loss": None if val is None else val[0][j],
                    "epoch_time_s": round(dt, 3),
                }
                for j in range(len(members))
            ]
            why = [engine.divergence(r) for r in recs]
            diverged = [j for j, w in enumerate(why) if w is not None]
            for j in diverged:
                c = members[j]
                wall[c.run_id] += dt
                say(f"{c.run_id}: {why[j]} in epoch {epoch + 1}: diverged")
                run, i = live.pop(c.run_id)
                results[i] = engine.finish(
                    run, c, "diverged", history[c.run_id], wall[c.run_id], device, diverged_at=epoch + 1, error=why[j]
                )
            model_states, opt_states = pack.member_states() if len(diverged) < len(members) else ([], [])
            for j, c in enumerate(members):
                if j in diverged:
                    continue
                rec = recs[j]
                rec.pop("val_loss")  # checked, not recorded (as train_run)
                wall[c.run_id] += dt
                history[c.run_id].append(rec)
                run = live[c.run_id][0]
                run.save_checkpoint(
                    {
                        "model": model_states[j],
                        "optimizer": opt_states[j],
                        "history": history[c.run_id],
                        "wall_time_s": wall[c.run_id],
                        "run_id": c.run_id,
                        "packed_with": [x.run_id for x in members],
                    }
                )
                run.write_metrics(history[c.run_id])
                say(f"{c.run_id}: {engine.log_epoch(rec, epochs)}")
            if diverged:
                pack = pack.without(diverged, data, device)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test=f"{max(test[1]):.2f}")
    except Exception as exc:  # recorded for every member still training, then re-raised (as train_run)
        for rid, (run, i) in live.items():
            c = configs[i]
            try:
                results[i] = engine.finish(
                    run, c, "failed", history[rid], wall[rid], device, error=f"{type(exc).__name__}: {exc}"
                )
            except OSError:  # a full disk cannot take the record either (as train_run)
                pass
        raise
    finally:
        if bar is not None:
            bar.close()
    for rid, (run, i) in live.items():
        results[i] = engine.finish(run, configs[i], "finished", history[rid], wall[rid], device)
    return results  # type: ignore[return-value]
