"""A run's model and optimizer: the zoo model with the paper's surgery, and the speed switches
(torch.compile, channels-last, bf16 autocast, CUDA-graph step marks) that change no mathematics."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar, cast

import torch
import torch.nn as nn

from ..models import create_model
from .config import WEIGHT_FILE_ARGS, RunConfig
from .inputs import IMAGE_SIZE, RunData

M = TypeVar("M", bound=nn.Module)


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
