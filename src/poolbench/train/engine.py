"""One run of the fixed protocol: its data, model, optimizer, epoch and evaluation, reproducibly.

``train_run`` builds a ``SingleTrainer`` and a ``RunRecorder`` and hands them to ``fit.fit`` (the
one epoch loop; packed runs use it too). Design (after airbench and torchvision's classification
reference):
- the dataset lives on the training device as uint8; each epoch is augmented at once with batched
  tensor ops (RandomCrop(32, pad 4, zeros) + flip), from a generator seeded by (seed, epoch), so the
  batch composition of epoch e never depends on whether the run was interrupted;
- the model's own randomness (dropout, stochastic pools) is reseeded from (seed, epoch) too;
- the recorder checkpoints every epoch atomically, so a killed run resumes to exactly the metrics
  of an uninterrupted run; a non-finite loss or logit ends it as *diverged* (``fit``);
- evaluation runs in large batches with one host sync per epoch.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.augment import batch_flip, batch_random_crop, normalize, normalize_per_image, pad_to
from ..models import create_model
from ..runs import DEFAULT_RUNS_DIR, RunDir, RunResult
from .config import WEIGHT_FILE_ARGS, RunConfig
from .data import holdout_fold, select_data  # noqa: F401 - holdout_fold: engine's public name too
from .fit import fit
from .progress import Progress
from .recorder import RunRecorder

M = TypeVar("M", bound=nn.Module)
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

    def put(x: torch.Tensor) -> torch.Tensor:
        return pad_to(x, IMAGE_SIZE).to(device, non_blocking=True)

    return RunData(
        train_x=put(sel.train_x),
        train_y=sel.train_y.to(device),
        test_x=put(sel.test_x),
        test_y=sel.test_y.to(device),
        val_x=None if sel.val_x is None else put(sel.val_x),
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
        **config.model_init(),  # a run is rebuilt with the initialisation it was made with
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
    return cast(nn.Module, torch.compile(model, mode=config.compile_mode))


def to_channels_last(model: M) -> M:
    """``model`` with its 4-d tensors in channels-last memory format (the same values)."""
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it


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
    own_loss: Any = getattr(model, "training_loss", None)
    if own_loss is not None:
        return own_loss(x, y, F.cross_entropy)
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
    mean_loss = float("nan") if bool(bad) else float(loss_sum) / n
    return {"train_loss": mean_loss, "train_acc": 100.0 * float(correct) / n}


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


# ----------------------------------------------------------------------------- the run
def check_config(config: RunConfig) -> None:
    """Everything about ``config`` that can fail on bad input, checked before its run directory exists."""
    config.protocol.check()
    config.check_weight_files()
    config.check_pool_file()
    config.check_data()


class SingleTrainer:
    """One run's model and optimizer: the ``fit.Trainer`` of K = 1."""

    packed = False

    def __init__(self, config: RunConfig, data: RunData, device: torch.device, checkpoint: dict[str, Any] | None):
        self.members, self.data, self.device = [config], data, device
        self.test_x, self.test_y, self.val_x, self.val_y = data.test_x, data.test_y, data.val_x, data.val_y
        self.steps_per_epoch = -(-len(data.train_y) // config.protocol.batch_size)
        self.model = build_model(config, data).to(device)
        if config.channels_last:
            self.model = to_channels_last(self.model)
        self.opt = make_optimizer(self.model, config)
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.opt.load_state_dict(checkpoint["optimizer"])
        self.step_model = compiled(self.model, config)

    def train_epoch(self, epoch: int, lr: float, on_step: Callable[[int], None] | None) -> list[dict[str, float]]:
        for group in self.opt.param_groups:
            group["lr"] = lr
        return [train_epoch(self.step_model, self.opt, self.data, self.members[0], epoch, self.device, on_step)]

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        loss, acc = evaluate(self.step_model, x, y, self.data, self.members[0], self.device)
        return [loss], [acc]

    def member_states(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(self.model.state_dict(), self.opt.state_dict())]

    def without(self, drop: list[int]) -> SingleTrainer | None:
        return None if 0 in drop else self


def train_run(
    config: RunConfig,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train one run to completion (or divergence); skip it if done, resume it if unfinished.

    Returns the contents of ``result.json``.
    """
    run = RunDir(runs_dir, config.run_id)
    result = run.read_result()
    if result is not None and run.is_done():
        if log is not None:
            best = f", best test acc {result['best_test_acc']:.2f}" if result.get("best_test_acc") is not None else ""
            log(f"{config.run_id}: already done ({result.get('status')}{best}); not trained again")
        return cast(RunResult, result)  # a result.json written by write_result
    dev = auto_device(device)
    check_config(config)  # everything that can fail on bad input, before the run directory exists
    data = prepare_data(config, dev)
    ckpt = run.load_checkpoint(map_location=dev)  # a refused or damaged file stops here, named
    trainer = SingleTrainer(config, data, dev, ckpt)
    bar = Progress(config.run_id, config.protocol.epochs, len(ckpt["history"]) if ckpt else 0, progress, log)
    recorder = RunRecorder(config, runs_dir, dev, bar.say)
    recorder.on_fit_start(ckpt)
    fit(trainer, [recorder], bar, config.run_id)
    assert recorder.result is not None  # fit ends every run it does not raise out of
    return recorder.result
