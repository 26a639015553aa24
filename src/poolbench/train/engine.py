"""One run of the fixed protocol, start to end: check its config, load its data, build its trainer
and hand it to ``fit.fit`` (the one epoch loop; packed runs use it too) with its recorder.

Design (after airbench and torchvision's classification reference): the inputs are on the training
device and each epoch's batches are a pure function of (seed, epoch) (``inputs.py``); the model's
own randomness is reseeded from (seed, epoch) too (``loop.py``); the recorder checkpoints every epoch
atomically, so a killed run resumes to exactly the metrics of an uninterrupted run; a non-finite
loss or logit ends it as *diverged* (``fit``); evaluation runs in large batches with one host sync
per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from ..build_error import BuildError
from ..runs import DEFAULT_RUNS_DIR, RunDir, RunResult
from .build import build_model, compiled, make_optimizer, to_channels_last
from .callbacks import Callback
from .config import RunConfig
from .fit import fit
from .inputs import RunData, prepare_data
from .loop import MemberSteps
from .progress import Progress
from .recorder import RunRecorder
from .resolve import check_data_unchanged, check_files_unchanged, resolve


def auto_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_config(config: RunConfig) -> None:
    """Everything about ``config`` that can fail on bad input, checked before its run directory exists:
    ``preflight``'s first problem is raised as the ``BuildError`` it describes. Its trial build is
    left out: the run builds its model next, before its run directory exists, and ``build_model``
    raises the same ``BuildError``."""
    from .preflight import preflight

    config.protocol.check()
    check_files_unchanged(config)  # a file changed since the run was configured: another run, said first
    problems = preflight(config, build=False)
    if problems:
        p = problems[0]
        raise BuildError(p.field, p.value, p.problem, p.fix)
    check_data_unchanged(config)


class SingleTrainer(MemberSteps):
    """One run's model and optimizer: the ``fit.Trainer`` of K = 1 (its step and evaluation: ``loop.py``)."""

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
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train one run to completion (or divergence); skip it if done, resume it if unfinished.

    Returns the contents of ``result.json``. ``callbacks`` (``train.callbacks.Callback``) are told
    the fit's hooks after the run's recorder and progress output. An unresolved ``config`` is
    resolved here (the run reads its data and files anyway; an official dataset is downloaded if
    missing).
    """
    config = resolve(config)
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
    fit(trainer, [recorder, bar, *callbacks], [ckpt], config.run_id)
    assert recorder.result is not None  # fit ends every run it does not raise out of
    return recorder.result
