"""A run's model and optimizer: the zoo model with the paper's surgery (``train/surgery.py``), and
the speed switches (torch.compile, channels-last, bf16 autocast, CUDA-graph step marks) that change
no mathematics."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar, cast

import torch
import torch.nn as nn

from ..build_error import BuildError
from ..models import create_model
from .config import WEIGHT_FILE_ARGS, RunConfig
from .inputs import IMAGE_SIZE, RunData
from .stored_layout import NO_HEADS
from .surgery import apply_surgery

M = TypeVar("M", bound=nn.Module)


def build_model(config: RunConfig, data: RunData) -> nn.Module:
    """The run's model: the zoo model with its pool, the paper surgery ``config.surgery`` names,
    the auxiliary heads and pool regulariser (``sac``, ``pool_reg``), materialized by one dry forward.

    Every failure is a ``BuildError`` naming the config field at fault, found by the stage that
    failed (never by the exception's text): the pool file; the model, or the pool in it (told apart
    by building the model once more with the default pool, only when the first build fails); each
    surgery entry; the auxiliary heads; and in the dry forward, the trunk (its surgery) or the head
    (the pool, with the contract checker's fix for a pool wider than it says)."""
    config.check_flex_sac_version()
    init = config.model_init()  # a run is rebuilt with the initialisation it was made with
    pool: Any = config.pool
    if config.pool_file:
        from ..pools.loader import load_pool_file

        try:
            pool = load_pool_file(config.pool_file)
        except Exception as e:  # noqa: BLE001 - the user's file failed to import: named as the file
            problem = getattr(e, "one_line", f"{type(e).__name__}: {e}")  # a PoolFileError says where, in one line
            raise BuildError("pool_file", config.pool_file, problem, "fix the path or the file") from e
    torch.manual_seed(config.seed)  # weight init depends on the seed only
    model = _create(config, pool, data, init)
    model = apply_surgery(model, config.surgery)
    if config.sac is not None or config.pool_reg is not None:  # sac {} means: auxiliary classifiers, defaults
        model = _with_training_terms(model, config)
    try:
        materialize(model, data.in_chans)
    except BuildError:
        raise
    except Exception as e:  # noqa: BLE001 - named by the stage that failed
        raise _forward_error(model, config, data.in_chans, e) from e
    return model


def _pool_field(config: RunConfig) -> tuple[str, Any]:
    """The field that chose the pool and its value (its arguments, when it has any)."""
    if config.pool_args:
        return "pool_args", dict(config.pool_args)
    return ("pool_file", config.pool_file) if config.pool_file else ("pool", config.pool)


def _create(config: RunConfig, pool: Any, data: RunData, init: dict[str, str]) -> nn.Module:
    def make(pool: Any, pool_args: dict[str, Any]) -> nn.Module:
        return create_model(
            config.model,
            num_classes=data.num_classes,
            in_chans=data.in_chans,
            pool=pool,
            pool_args=pool_args,
            **config.model_args,
            **init,
        )

    try:
        return make(pool, dict(config.pool_args))
    except BuildError:
        raise
    except Exception as e:  # noqa: BLE001 - the model's arguments or the pool's: the default pool tells
        try:
            with torch.random.fork_rng():
                make("avg", {})
        except Exception:  # noqa: BLE001 - the model fails with any pool: its own arguments
            field, value = ("model_args", dict(config.model_args)) if config.model_args else ("model", config.model)
            raise BuildError(
                field, value, f"{config.model} cannot be built ({type(e).__name__}: {e})", "fix the value"
            ) from e
        field, value = _pool_field(config)
        raise BuildError(field, value, f"the pool cannot be built ({type(e).__name__}: {e})", "fix the value") from e


def _with_training_terms(model: nn.Module, config: RunConfig) -> nn.Module:
    """SAC's auxiliary heads (``config.sac``; none: the regulariser alone) and the pool regulariser."""
    from ..models.aux import with_aux_classifiers

    sac = dict(config.sac if config.sac is not None else NO_HEADS)
    if sac.get("pool", "same") == "same" and "pool_args" not in sac:
        # auxiliary pools are the main pool with its arguments, less those tied to the main map
        # (its size, its channels, a weights file fitted on it)
        tied = {"size", "channels"} | {key for group, key in WEIGHT_FILE_ARGS if group == "pool_args"}
        sac["pool_args"] = {k: v for k, v in config.pool_args.items() if k not in tied}
    try:
        return with_aux_classifiers(model, **sac, pool_reg=config.pool_reg or 0.0)
    except BuildError as e:  # with_aux_classifiers names its keyword: pool_reg is the config's own field
        raise e.at(e.field if e.field == "pool_reg" else f"sac.{e.field}") from e
    except Exception as e:  # noqa: BLE001 - an auxiliary pool that cannot be built at a stage
        raise BuildError(
            "sac",
            config.sac,
            f"the auxiliary heads cannot be built ({type(e).__name__}: {e})",
            "pick other stages or train without auxiliary classifiers",
        ) from e


def _forward_error(model: nn.Module, config: RunConfig, in_chans: int, e: Exception) -> BuildError:
    """The dry forward failed: in the trunk (the surgery, or the model) or at the head (the pool)."""
    what = f"{type(e).__name__}: {e}"
    stages = getattr(model, "forward_stages", None)
    x = torch.zeros(2, in_chans, IMAGE_SIZE, IMAGE_SIZE)
    feats = None
    if stages is not None:
        try:
            with torch.no_grad():
                feats = stages(x)[-1]
        except Exception:  # noqa: BLE001 - the trunk itself fails
            pass
    if feats is None:
        if config.surgery:
            e0 = config.surgery[-1]
            return BuildError(
                f"surgery.{e0['name']}",
                e0.get("args", {}),
                f"{config.model} fails with it ({what})",
                "fix its arguments",
            )
        field, value = ("model_args", dict(config.model_args)) if config.model_args else ("model", config.model)
        return BuildError(field, value, f"{config.model} fails on a 32x32 input ({what})", "fix the value")
    from ..pools.check import width_fix

    field, value = _pool_field(config)
    pool = getattr(model, "pool", None)
    fix = ""
    if isinstance(pool, nn.Module):
        try:
            with torch.no_grad():
                fix = width_fix(pool, feats.shape[1], pool(feats))
        except Exception:  # noqa: BLE001 - the pool itself fails: the original error says how
            fix = ""
    if fix:  # the usual cause of a shape error at the head, named as the contract checker names it
        return BuildError(field, value, f"the pool fails in {config.model}", fix)
    return BuildError(field, value, f"the pool fails in {config.model} ({what})", "fix the pool or its arguments")


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
