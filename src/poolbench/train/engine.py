"""The train/eval loop of the fixed protocol, resumable and reproducible.

Design (after airbench and torchvision's classification reference):
- the dataset lives on the training device as uint8; each epoch is augmented at once with batched
  tensor ops (RandomCrop(32, pad 4, zeros) + flip), from a generator seeded by (seed, epoch), so the
  batch composition of epoch e never depends on whether the run was interrupted;
- the model's own randomness (dropout, stochastic pools) is reseeded from (seed, epoch) too;
- after every epoch, a checkpoint (model, optimizer, metric history) is written atomically and
  ``metrics.jsonl`` is rewritten from that history, so a run killed at any moment resumes to exactly
  the metrics of an uninterrupted run;
- a non-finite training loss, test (or validation) loss or logit, in training or in eval mode,
  ends the run as *diverged* at that epoch, never as an accuracy: a model whose outputs are NaN
  would otherwise score the share of the class argmax falls on;
- evaluation runs in large batches with one host sync per epoch.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.augment import batch_flip, batch_random_crop, normalize, normalize_per_image, pad_to
from ..models import create_model
from ..runs import RunDir, atomic_write_json
from .config import CONFIG_SCHEMA, WEIGHT_FILE_ARGS, RunConfig
from .data import holdout_fold, select_data  # noqa: F401 - holdout_fold: engine's public name too
from .progress import RunInterrupted, StepTimer, interactive
from .provenance import provenance

IMAGE_SIZE = 32  # every model sees 32x32 (28x28 sources are zero-padded, see data/augment.py)
EVAL_BATCH = 1000


def auto_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- data
@dataclass
class RunData:
    """Uint8 images and labels on the training device, plus what normalisation needs."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    in_chans: int
    input_norm: str = "dataset"  # the protocol's: "dataset" (per-channel mean/std) or "image"

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the float model inputs, normalised as the protocol says."""
        if self.input_norm == "image":
            return normalize_per_image(x)
        return normalize(x, self.mean, self.std)


def prepare_data(config: RunConfig, device: torch.device) -> RunData:
    sel = select_data(config)
    ds = sel.dataset

    def put(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else pad_to(x, IMAGE_SIZE).to(device, non_blocking=True)

    return RunData(
        train_x=put(sel.train_x),
        train_y=sel.train_y.to(device),
        test_x=put(sel.test_x),
        test_y=sel.test_y.to(device),
        val_x=put(sel.val_x),
        val_y=None if sel.val_y is None else sel.val_y.to(device),
        mean=tuple(ds.mean),
        std=tuple(ds.std),
        num_classes=ds.num_classes,
        in_chans=ds.in_chans,
        input_norm=config.protocol.input_norm,
    )


def _seed_for(seed: int, epoch: int, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def epoch_batches(data: RunData, seed: int, epoch: int, batch_size: int, augment: str = "crop_flip"):
    """The augmented, shuffled training batches of one epoch: a pure function of (seed, epoch).

    The last partial batch is kept (50000 = 390 * 128 + 80 -> 391 steps), as the protocol says.
    """
    g = torch.Generator(device=data.train_x.device).manual_seed(_seed_for(seed, epoch, "data"))
    perm = torch.randperm(len(data.train_y), generator=g, device=data.train_x.device)
    x = data.train_x[perm]
    if augment == "crop_flip":
        x = batch_flip(batch_random_crop(x, IMAGE_SIZE, 4, g), g)
    elif augment != "none":
        raise ValueError(f"unknown augmentation {augment!r}")
    y = data.train_y[perm]
    for i in range(0, len(y), batch_size):
        yield x[i : i + batch_size], y[i : i + batch_size]


# ----------------------------------------------------------------------------- model
def build_model(config: RunConfig, data: RunData) -> nn.Module:
    config.check_flex_sac_version()
    pool: Any = config.pool
    if config.pool_file:
        from ..pools.loader import load_pool_file

        pool = load_pool_file(config.pool_file)
    torch.manual_seed(config.seed)  # weight init depends on the seed only
    model_args = dict(config.model_args)
    lda_layer, lda_weights = model_args.pop("lda_layer", None), model_args.pop("lda_weights", None)
    sgd_layer = model_args.pop("sgd_pool_layer", None)
    model = create_model(
        config.model,
        num_classes=data.num_classes,
        in_chans=data.in_chans,
        pool=pool,
        pool_args=dict(config.pool_args),
        **model_args,
    )
    if lda_layer is not None or lda_weights is not None:  # paper surgery (Birodkar et al. 2019), not a zoo option
        from ..lda.downsample import with_lda_downsampling

        model = with_lda_downsampling(model, lda_layer, lda_weights)
    if sgd_layer is not None:  # the same pooling map learned by SGD (the paper's Table 4)
        from ..lda.learned import with_sgd_downsampling

        model = with_sgd_downsampling(model, sgd_layer)
    if config.sac is not None:  # {} means: auxiliary classifiers with their defaults
        from ..models.aux import with_aux_classifiers

        sac = dict(config.sac)
        if sac.get("pool", "same") == "same" and "pool_args" not in sac:
            # auxiliary pools are the main pool with its arguments, less those tied to the main map
            # (its size, its channels, a weights file fitted on it)
            tied = {"size", "channels"} | {key for group, key in WEIGHT_FILE_ARGS if group == "pool_args"}
            sac["pool_args"] = {k: v for k, v in config.pool_args.items() if k not in tied}
        model = with_aux_classifiers(model, **sac)
    materialize(model, data.in_chans)
    return model


@torch.no_grad()
def materialize(model: nn.Module, in_chans: int) -> list[str]:
    """One dry forward (eval mode: no BatchNorm statistics change, no randomness drawn) so that
    parameters a pool creates on its first input (the benchmark's no-argument ``CustomPool``
    scaffold) exist before the optimizer is built and a checkpoint is loaded. Returns their names."""
    before = {id(p) for p in model.parameters()}
    was_training = model.training
    model.eval()
    model(torch.zeros(2, in_chans, IMAGE_SIZE, IMAGE_SIZE))
    model.train(was_training)
    return [name for name, p in model.named_parameters() if id(p) not in before]


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    p = config.protocol
    if p.optimizer == "adam":  # a paper preset's (Birodkar et al. 2019's CNN: Adam, lr 1e-3, fixed)
        return torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay, foreach=True)
    # weight decay on every parameter (BN and biases too): the benchmark's plain SGD setup
    return torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay, foreach=True)


COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compiled(model: nn.Module, config: RunConfig) -> nn.Module:
    """The module the training step calls: ``model`` itself, or ``torch.compile(model)`` in the config's
    mode ("reduce-overhead" captures forward and backward in CUDA graphs on a GPU). The same
    mathematics either way (a speed switch, not part of the run's identity); the optimizer step and
    the per-epoch bookkeeping stay eager."""
    if not config.compile:
        return model
    if config.compile_mode not in COMPILE_MODES:
        raise ValueError(
            f"unknown compile mode {config.compile_mode!r}; use one of {', '.join(str(m) for m in COMPILE_MODES[1:])}"
        )
    return torch.compile(model, mode=config.compile_mode)


def step_begin(config: RunConfig) -> None:
    """Under CUDA graphs (compile mode "reduce-overhead"), mark that a new step begins: nothing of
    the previous step's graph outputs is used again (its loss and accuracy were already added to the
    on-device sums), so cudagraph trees may reuse their memory instead of guessing."""
    if config.compile and config.compile_mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()


def autocast(config: RunConfig, device: torch.device):
    if config.amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if config.amp != "none":
        raise ValueError(f"unknown amp mode {config.amp!r}; use 'none' (fp32) or 'bf16'")
    return contextlib.nullcontext()


def training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, logits). Models with extra training terms (auxiliary classifiers, pooling-weight
    regularisation) implement ``training_loss(x, y, criterion)``; the rest are plain cross-entropy."""
    if hasattr(model, "training_loss"):
        return model.training_loss(x, y, F.cross_entropy)
    logits = model(x)
    return F.cross_entropy(logits.float(), y), logits


def nonfinite(t: torch.Tensor) -> torch.Tensor:
    """A 0-dim bool tensor (no host sync): does ``t`` hold a NaN or an infinity?"""
    return ~torch.isfinite(t.detach()).all()


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: RunData,
    config: RunConfig,
    epoch: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One epoch; ``on_step(i)`` is called after step i (1-based), e.g. to time a few steps.
    ``train_loss`` is NaN when any logit of the epoch was non-finite, even where the cross-entropy
    stayed finite (a -inf logit), so the caller's one check sees every divergence."""
    model.train()
    torch.manual_seed(_seed_for(config.seed, epoch, "model"))  # dropout / stochastic pools
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bad = torch.zeros((), device=device, dtype=torch.bool)
    n = 0
    for xb, yb in epoch_batches(data, config.seed, epoch, config.protocol.batch_size, config.protocol.augment):
        step_begin(config)
        xb = data.inputs(xb)
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(config, device):
            loss, logits = training_loss(model, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(yb)
        correct += (logits.detach().argmax(1) == yb).sum()
        bad |= nonfinite(logits)
        n += len(yb)
        if on_step is not None:
            on_step(-(-n // config.protocol.batch_size))
    loss = float("nan") if bool(bad) else float(loss_sum) / n
    return {"train_loss": loss, "train_acc": 100.0 * float(correct) / n}


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, data: RunData, config: RunConfig, device: torch.device
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy %) over a uint8 image tensor, one host sync at the end.

    The loss is NaN when any logit is non-finite (see ``train_epoch``): the accuracy is then meaningless."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bad = torch.zeros((), device=device, dtype=torch.bool)
    for i in range(0, len(y), EVAL_BATCH):
        step_begin(config)
        xb = data.inputs(x[i : i + EVAL_BATCH])
        if config.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(config, device):
            logits = model(xb).float()
        loss_sum += F.cross_entropy(logits, y[i : i + EVAL_BATCH], reduction="sum")
        correct += (logits.argmax(1) == y[i : i + EVAL_BATCH]).sum()
        bad |= nonfinite(logits)
    return float("nan") if bool(bad) else float(loss_sum) / len(y), 100.0 * float(correct) / len(y)


# ----------------------------------------------------------------------------- results
def summarize_history(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Best-epoch test accuracy (the benchmark's metric), final-epoch accuracy and, with a
    validation split, the test accuracy at the epoch of best validation accuracy."""
    if not history:
        return {"best_test_acc": None, "best_epoch": None, "final_test_acc": None, "test_acc_at_best_val": None}
    best = max(history, key=lambda r: (r["test_acc"], -r["epoch"]))
    out = {
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "final_test_acc": history[-1]["test_acc"],
        "test_acc_at_best_val": None,
        "best_val_epoch": None,
    }
    if history[0].get("val_acc") is not None:
        out["final_val_acc"] = history[-1]["val_acc"]
        bv = max(history, key=lambda r: (r["val_acc"], -r["epoch"]))
        out["test_acc_at_best_val"], out["best_val_epoch"] = bv["test_acc"], bv["epoch"]
    return out


def divergence(rec: dict[str, Any]) -> str | None:
    """Why this epoch's record is a diverged model (a non-finite loss or logit), or None."""
    for key, what in (
        ("train_loss", "training loss (or a training logit)"),
        ("test_loss", "test loss (or an eval-mode logit)"),
        ("val_loss", "validation loss (or an eval-mode logit)"),
    ):
        v = rec.get(key)
        if v is not None and not math.isfinite(v):
            return f"{what} became {v}"
    return None


def write_config(run: RunDir, config: RunConfig) -> None:
    if run.config.exists():
        return
    d = config.to_dict()
    d.update(
        run_id=config.run_id, protocol_label=config.protocol_label(), standard=config.is_standard, schema=CONFIG_SCHEMA
    )
    atomic_write_json(run.config, d)


def finish(
    run: RunDir,
    config: RunConfig,
    status: str,
    history: list[dict[str, Any]],
    wall: float,
    device: torch.device,
    diverged_at: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": status,
        "run_id": config.run_id,
        "epochs_completed": len(history),
        "diverged_at_epoch": diverged_at,
        "error": error,
        "protocol_label": config.protocol_label(),
        "standard": config.is_standard,
    }
    result.update(summarize_history(history) if status == "finished" else summarize_history([]))
    result["provenance"] = dict(provenance(device), wall_time_s=round(wall, 2))
    atomic_write_json(run.result, result)
    return result


def log_epoch(rec: dict[str, Any], total: int) -> str:
    val = f" val {rec['val_acc']:.2f}" if rec.get("val_acc") is not None else ""
    return (
        f"epoch {rec['epoch']:>3}/{total} lr {rec['lr']:.4f} loss {rec['train_loss']:.4f} "
        f"train {rec['train_acc']:.2f} test {rec['test_acc']:.2f}{val} ({rec['epoch_time_s']:.1f}s)"
    )


# ----------------------------------------------------------------------------- the run
def train_run(
    config: RunConfig,
    runs_dir: str | Path = "runs",
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train one run to completion (or divergence); skip it if done, resume it if unfinished.

    Returns the contents of ``result.json``.
    """
    run = RunDir(runs_dir, config.run_id)
    if run.is_done():
        result = run.read_result()
        if log is not None:
            best = f", best test acc {result['best_test_acc']:.2f}" if result.get("best_test_acc") is not None else ""
            log(f"{config.run_id}: already done ({result.get('status')}{best}); not trained again")
        return result
    device = auto_device(device)
    # Build everything that can fail on bad input *before* the run directory exists.
    config.protocol.check()
    config.check_weight_files()
    config.check_pool_file()
    config.check_data()
    data = prepare_data(config, device)
    model = build_model(config, data).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, config)
    ckpt = run.load_checkpoint(map_location=device)  # a refused or damaged file stops here, named
    run.remove_stale_temp_files()
    run.path.mkdir(parents=True, exist_ok=True)
    write_config(run, config)

    history: list[dict[str, Any]] = []
    wall = 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history, wall = ckpt["history"], ckpt["wall_time_s"]
        run.write_metrics(history)  # heal a metrics file that lagged the checkpoint at the kill
    step_model = compiled(model, config)

    epochs = config.protocol.epochs
    bar = None
    if progress and interactive():
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=len(history), desc=config.run_id, unit="ep", leave=False)
    # one whole line per epoch wherever there is no bar (a log file, --no-progress)
    say = log or (bar.write if bar is not None else print)
    if history:
        say(f"{config.run_id}: resumed from epoch {len(history)} (of {epochs}); training epoch {len(history) + 1} next")
    timer = StepTimer(
        -(-len(data.train_y) // config.protocol.batch_size), epochs - len(history), device, say, config.run_id
    )
    try:
        for epoch in range(len(history), epochs):
            t0 = time.perf_counter()
            lr = config.protocol.lr_at(epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            rec: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
            rec.update(train_epoch(step_model, opt, data, config, epoch, device, on_step=timer))
            why = divergence(rec)
            if why is None:
                rec["test_loss"], rec["test_acc"] = evaluate(step_model, data.test_x, data.test_y, data, config, device)
                rec["val_acc"] = rec["val_loss"] = None
                if data.val_x is not None:
                    rec["val_loss"], rec["val_acc"] = evaluate(step_model, data.val_x, data.val_y, data, config, device)
                why = divergence(rec)
            if why is not None:
                wall += time.perf_counter() - t0
                say(f"{config.run_id}: {why} in epoch {epoch + 1}: diverged")
                return finish(run, config, "diverged", history, wall, device, diverged_at=epoch + 1, error=why)
            rec.pop("val_loss")  # checked, not recorded: metrics.jsonl keeps its schema
            rec["epoch_time_s"] = round(time.perf_counter() - t0, 3)
            wall += time.perf_counter() - t0
            history.append(rec)
            run.save_checkpoint(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "history": history,
                    "wall_time_s": wall,
                    "run_id": config.run_id,
                }
            )
            run.write_metrics(history)
            say(log_epoch(rec, epochs))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test=f"{rec['test_acc']:.2f}", best=f"{max(r['test_acc'] for r in history):.2f}")
    except KeyboardInterrupt:  # nothing is lost but the epoch in progress: say how to go on
        raise RunInterrupted(
            f"{config.run_id}: interrupted in epoch {len(history) + 1} of {epochs}; "
            f"{len(history)} finished epochs are saved. Run the same command again to resume "
            f"from epoch {len(history) + 1}."
        ) from None
    except Exception as exc:  # a crash is recorded, then re-raised for the caller to decide
        try:
            finish(run, config, "failed", history, wall, device, error=f"{type(exc).__name__}: {exc}")
        except OSError:  # a full disk cannot take the record either: the original error is the news
            pass
        raise
    finally:
        if bar is not None:
            bar.close()
    return finish(run, config, "finished", history, wall, device)
