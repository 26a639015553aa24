"""Training throughput: what a user would otherwise run vs poolbench's training path, single and packed.

What is timed, per model (batch 128, fp32 unless ``--amp bf16``, a non-standard option whose use is
recorded in every row):

  * ``dataloader`` -- the seed harness's way: a ``torch.utils.data.DataLoader`` over a dataset that
    transforms each image on its own (pad 4 + random 32x32 crop + coin-flip mirror + normalise, as
    torchvision's per-image ``RandomCrop``/``RandomHorizontalFlip``/``ToTensor``/``Normalize``) in
    worker processes, host-to-device copies per batch, NCHW, default ``torch.optim.SGD``,
    ``loss.item()`` per step;
  * ``baseline`` -- a plain eager loop on resident data: per step, index a batch, augment it with the
    batched crop+flip ops, normalise, NCHW forward/backward, default SGD, ``loss.item()``;
  * ``poolbench`` -- the training step's own code (``train.loop.train_epoch``, K = 1): the epoch
    augmented at once on the device from resident uint8 data (after airbench,
    KellerJordan/cifar10-airbench), channels_last (``--no-channels-last`` to compare), foreach SGD,
    one host sync per epoch;
  * ``packed K`` -- K models as one network (``train.packing``, after HFTA, Wang et al., MLSys 2021),
    the same step (``train.loop.train_epoch``) that ``train_packed`` runs, images/s counting all K
    models' images.

poolbench's paths run in each of ``--modes``: ``eager``; ``compile`` (``torch.compile``, default
mode); ``cudagraphs`` (``torch.compile(mode="reduce-overhead")``: forward and backward replayed as
CUDA graphs on a GPU; on a CPU it is plain compile, and the row says so).

The mathematics is the protocol's in every path (same SGD, weight decay on all parameters, same
batch composition); only the implementation differs. A "run" is projected from the measured step
and evaluation times: 200 epochs x (391 steps + 10000 test images). Timing on a shared CPU is noisy,
so the paths are timed in alternating rounds and the median round is reported, and speed-ups are
ratios from one invocation. Data is random uint8 of CIFAR shape: throughput does not depend on it.
With ``budget_s`` the bench stops starting new paths (and rounds) once that much time has passed
and says so in the rows it could not time.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .data.augment import batch_flip, batch_random_crop, normalize
from .fileio import atomic_write_text
from .models import create_model
from .train import Protocol, RunConfig, loop
from .train.build import autocast, build_model, compiled, make_optimizer
from .train.data import fixed_subset
from .train.engine import auto_device
from .train.inputs import RunData
from .train.packing import NotPackable, pack_models
from .train.provenance import device_name, git_commit

MODELS = ("resnet20", "resnet56", "vgg16_bn", "mobilenetv2")
MODES = {"eager": None, "compile": "default", "cudagraphs": "reduce-overhead"}  # -> torch.compile mode
BASELINES = ("plain", "dataloader")
STEPS_PER_EPOCH = 391  # 50000 = 390 * 128 + 80: the last partial batch is kept
TEST_IMAGES = 10000
EPOCHS = 200
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass
class Row:
    model: str
    path: str  # "dataloader", "baseline", "poolbench" or "packed"
    k: int
    mode: str = "eager"  # eager | compile | cudagraphs (poolbench's paths; baselines are eager)
    amp: str = "none"  # "bf16" is a non-standard option
    step_ms: float | None = None  # one optimizer step of all k models
    images_per_s: float | None = None  # all k models' training images
    eval_ms_per_1k: float | None = None  # test images, per 1000, for all k models
    min_per_run: float | None = None  # projected wall minutes of one full 200-epoch run
    runs_per_hour: float | None = None
    speedup: float | None = None  # training images/s over the plain baseline's (median per-round ratio)
    warmup_s: float | None = None  # untimed first steps + evaluation: torch.compile / graph capture cost
    note: str = ""

    def steps_per_s(self) -> float | None:
        return None if self.step_ms is None else 1000.0 / self.step_ms


@dataclass
class BenchConfig:
    models: Sequence[str] = MODELS
    packs: Sequence[int] = (1, 4)
    steps: int = 5
    warmup: int = 2
    rounds: int = 2
    eval_images: int = 1000
    batch_size: int = 128
    amp: str = "none"
    channels_last: bool = True
    modes: Sequence[str] = ("eager",)
    baselines: Sequence[str] = ("plain",)  # any of BASELINES; () for none
    loader_workers: int = 0  # the dataloader baseline's worker processes
    budget_s: float | None = None  # stop starting paths / rounds after this many seconds
    device: str | None = None

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES] + [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(
                f"unknown bench mode or baseline {', '.join(map(repr, bad))}; modes: "
                f"{', '.join(MODES)}; baselines: {', '.join(BASELINES)}"
            )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_data(n_train: int, n_test: int, device: torch.device, seed: int = 0) -> RunData:
    g = torch.Generator().manual_seed(seed)

    def img(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)

    def lab(n: int) -> torch.Tensor:
        return torch.randint(0, 10, (n,), generator=g).to(device)

    return RunData(
        train_x=img(n_train),
        train_y=lab(n_train),
        test_x=img(n_test),
        test_y=lab(n_test),
        val_x=None,
        val_y=None,
        mean=MEAN,
        std=STD,
        num_classes=10,
        in_chans=3,
    )


def _subset(data: RunData, n: int) -> RunData:
    """n training images (the runs' ``fixed_subset``): an 'epoch' of exactly n / batch steps."""
    x, y = fixed_subset(data.train_x, data.train_y, n)
    return dataclasses.replace(data, train_x=x, train_y=y)


def _config(model: str, bc: BenchConfig, seed: int = 0, mode: str = "eager") -> RunConfig:
    return RunConfig(
        model=model,
        dataset="synthetic",
        seed=seed,
        amp=bc.amp,
        channels_last=bc.channels_last,
        compile=mode != "eager",
        compile_mode=MODES[mode],
        protocol=Protocol(batch_size=bc.batch_size),
    )


# ----------------------------------------------------------------------------- the paths
def _plain_model(model_name: str, device: torch.device):
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=10, in_chans=3).to(device)
    p = Protocol()
    return model, torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)


def _plain_step(model, opt, x, y, cfg: RunConfig, device: torch.device) -> None:
    with autocast(cfg, device):
        loss = F.cross_entropy(model(x).float(), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss.item()


def _baseline_runner(model_name: str, bc: BenchConfig, data: RunData, device: torch.device):
    """A plain eager loop: per-batch augmentation and normalisation, NCHW, default SGD, loss.item()."""
    model, opt = _plain_model(model_name, device)
    g = torch.Generator(device=device).manual_seed(0)
    cfg = _config(model_name, bc)

    def run(steps: int) -> None:
        model.train()
        for _ in range(steps):
            idx = torch.randint(0, len(data.train_y), (bc.batch_size,), generator=g, device=device)
            x = normalize(batch_flip(batch_random_crop(data.train_x[idx], 32, 4, g), g), data.mean, data.std)
            _plain_step(model, opt, x, data.train_y[idx], cfg, device)

    def evaluate(n: int) -> None:
        model.eval()
        with torch.no_grad():
            for i in range(0, n, loop.EVAL_BATCH):
                x = normalize(data.test_x[i : i + loop.EVAL_BATCH], data.mean, data.std)
                with autocast(cfg, device):
                    model(x).float().argmax(1).sum().item()

    return run, evaluate


class PerImageDataset(torch.utils.data.Dataset):
    """uint8 CPU images transformed one at a time, as torchvision's per-image transforms do:
    RandomCrop(32, padding=4) (zero padding), RandomHorizontalFlip, ToTensor + Normalize.
    ``train=False``: ToTensor + Normalize only. Randomness is the worker's global RNG (DataLoader
    seeds each worker), as with torchvision."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean, std, train: bool):
        self.x, self.y, self.train = x, y, train
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = self.x[i]
        if self.train:
            padded = F.pad(img, (4, 4, 4, 4))
            dy, dx = (int(v) for v in torch.randint(0, 9, (2,)))
            img = padded[:, dy : dy + 32, dx : dx + 32]
            if torch.rand(()) < 0.5:
                img = img.flip(-1)
        return (img.float() / 255 - self.mean) / self.std, self.y[i]


def _dataloader_runner(model_name: str, bc: BenchConfig, data: RunData, device: torch.device):
    """The seed harness's way: DataLoader + per-image transforms, copies per batch, NCHW, default SGD."""
    from torch.utils.data import DataLoader

    model, opt = _plain_model(model_name, device)
    cfg = _config(model_name, bc)
    kw = dict(num_workers=bc.loader_workers, pin_memory=device.type == "cuda", persistent_workers=bc.loader_workers > 0)
    train = DataLoader(
        PerImageDataset(data.train_x.cpu(), data.train_y.cpu(), data.mean, data.std, True),
        batch_size=bc.batch_size,
        shuffle=True,
        drop_last=False,
        **kw,
    )
    test = DataLoader(
        PerImageDataset(data.test_x.cpu(), data.test_y.cpu(), data.mean, data.std, False),
        batch_size=bc.batch_size,
        shuffle=False,
        **kw,
    )
    batches = iter(())

    def run(steps: int) -> None:
        nonlocal batches
        model.train()
        for _ in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:  # a new epoch of the loader
                batches = iter(train)
                x, y = next(batches)
            _plain_step(model, opt, x.to(device, non_blocking=True), y.to(device, non_blocking=True), cfg, device)

    def evaluate(n: int) -> None:
        model.eval()
        seen = 0
        with torch.no_grad():
            for x, y in test:
                if seen >= n:
                    break
                with autocast(cfg, device):
                    (model(x.to(device, non_blocking=True)).float().argmax(1) == y.to(device)).sum().item()
                seen += len(y)

    return run, evaluate


def _poolbench_runner(model_name: str, bc: BenchConfig, data: RunData, device: torch.device, k: int, mode: str):
    """The training step's epoch (``train.loop.train_epoch``) of one model (k == 1) or a pack of k,
    on ``steps`` batches, and its evaluation."""
    configs = [_config(model_name, bc, seed, mode) for seed in range(k)]
    models = [build_model(c, data).to(device) for c in configs]
    # one model, or a pack of k (the step seeds its members' random streams)
    model = models[0] if k == 1 else pack_models(models).to(device)
    if bc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, configs[0])
    step_model = compiled(model, configs[0])
    epoch = [0]
    # The epochs the bench asks for, cut before any timing (a subset is a gather: not the trainer's cost).
    subsets = {steps: _subset(data, steps * bc.batch_size) for steps in {bc.warmup, bc.steps}}

    def run(steps: int) -> None:
        sub = subsets[steps] if steps in subsets else _subset(data, steps * bc.batch_size)
        epoch[0] += 1
        loop.train_epoch(step_model, opt, sub, configs, epoch[0], device)

    def evaluate(n: int) -> None:
        loop.evaluate(step_model, data.test_x[:n], data.test_y[:n], data, configs, device)

    return run, evaluate


def _time(fn: Callable[[int], None], n: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn(n)
    _sync(device)
    return time.perf_counter() - t0


def _project(row: Row, step_s: float, eval_s_per_image: float, k: int, batch: int) -> None:
    row.step_ms = 1000 * step_s
    row.images_per_s = k * batch / step_s
    row.eval_ms_per_1k = 1000 * 1000 * eval_s_per_image
    epoch_s = STEPS_PER_EPOCH * step_s + TEST_IMAGES * eval_s_per_image  # the pack's epoch
    row.min_per_run = EPOCHS * epoch_s / 60
    row.runs_per_hour = 60 * k / row.min_per_run


def _paths(model_name: str, bc: BenchConfig, data: RunData, device: torch.device):
    """[(row, make_runner)] in timing order: the baselines, then every mode x K of poolbench's path."""
    out: list[tuple] = []
    for b in bc.baselines:
        make = _dataloader_runner if b == "dataloader" else _baseline_runner
        out.append(
            (
                Row(model_name, "dataloader" if b == "dataloader" else "baseline", 1, amp=bc.amp),
                lambda make=make: make(model_name, bc, data, device),
            )
        )
    for mode in bc.modes:
        for k in bc.packs:
            row = Row(model_name, "poolbench" if k == 1 else "packed", k, mode=mode, amp=bc.amp)
            if mode == "cudagraphs" and device.type != "cuda":
                row.note = "no CUDA device: reduce-overhead compiles without CUDA graphs"
            out.append((row, lambda k=k, mode=mode: _poolbench_runner(model_name, bc, data, device, k, mode)))
    return out


def bench_model(
    model_name: str,
    bc: BenchConfig,
    device: torch.device,
    log: Callable[[str], None] = print,
    over: Callable[[], bool] = lambda: False,
) -> list[Row]:
    """All paths for one model, timed in alternating rounds (median round per path). ``over()``
    true means the time budget is spent: paths not yet warmed up are not timed, no new round starts."""
    if any(m != "eager" for m in bc.modes):
        # Every model shares PooledClassifier.forward, and dynamo's recompile limit counts per code
        # object: without a reset the later models would silently fall back to eager.
        torch._dynamo.reset()
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    n_train = max(bc.steps, bc.warmup) * bc.batch_size
    data = _random_data(n_train, bc.eval_images, device)
    paths: list[tuple] = []
    for row, make in _paths(model_name, bc, data, device):
        runner = None
        if over():
            row.note = "not timed: bench budget spent"
        else:
            try:
                runner = make()
                t0 = time.perf_counter()
                runner[0](bc.warmup)  # warm-up (and torch.compile) outside the timing
                runner[1](min(bc.eval_images, loop.EVAL_BATCH))
                _sync(device)
                row.warmup_s = time.perf_counter() - t0
                log(f"  {model_name} {row.path} k={row.k} {row.mode} {row.amp}: warm-up {row.warmup_s:.1f}s")
            except (NotPackable, torch.cuda.OutOfMemoryError, RuntimeError) as exc:
                row.note, runner = _short(exc), None
                _free(device)
        paths.append((row, runner))
    base = next((i for i, (row, runner) in enumerate(paths) if row.path == "baseline" and runner), None)
    times: dict[int, list[float]] = {i: [] for i in range(len(paths))}
    evals: dict[int, list[float]] = {i: [] for i in range(len(paths))}
    for r in range(bc.rounds):
        if r and over():
            log(f"  {model_name}: bench budget spent after {r} round(s)")
            break
        for i, (row, runner) in enumerate(paths):
            if runner is None:
                continue
            times[i].append(_time(runner[0], bc.steps, device) / bc.steps)
            evals[i].append(_time(runner[1], bc.eval_images, device) / bc.eval_images)
            log(f"  {model_name} {row.path} k={row.k} {row.mode} round {r + 1}: {1000 * times[i][-1]:.2f} ms/step")
    rows = []
    for i, (row, runner) in enumerate(paths):
        if runner is not None and times[i]:
            _project(row, statistics.median(times[i]), statistics.median(evals[i]), row.k, bc.batch_size)
            if base is not None:
                # The machine's speed drifts between rounds (other jobs), so the speed-up is the median
                # of per-round ratios against the baseline timed in the same round, not a ratio of medians.
                row.speedup = statistics.median(row.k * b / t for b, t in zip(times[base], times[i], strict=True))
        rows.append(row)
    del paths
    _free(device)
    return rows


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return "out of memory" if "out of memory" in text.lower() else text.splitlines()[0][:120]


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def environment(device: torch.device) -> dict[str, Any]:
    """What a throughput number depends on besides the code: device, torch, CUDA, cuDNN, TF32 switches."""
    env: dict[str, Any] = {
        "device": device_name(device),
        "torch": torch.__version__,
        "commit": git_commit(),
        "threads": torch.get_num_threads(),
        "host": platform.node(),
        "cpu": _cpu_model(),
        # CPU timings depend on what else runs: the cores and the load (1, 5, 15 min) when the bench starts
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        env.update(
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_conv=torch.backends.cudnn.allow_tf32,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
        )
    return env


def run_bench(
    bc: BenchConfig, log: Callable[[str], None] = print, on_model: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Every model's rows under one header; ``on_model(result so far)`` after each model (so a caller
    can write partial results that survive a kill)."""
    device = auto_device(bc.device)
    start = time.monotonic()
    over = (lambda: False) if bc.budget_s is None else (lambda: time.monotonic() - start > bc.budget_s)
    header = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **environment(device),
        "config": _jsonable(asdict(bc)),
        "projection": f"{EPOCHS} epochs x ({STEPS_PER_EPOCH} steps of batch {bc.batch_size} "
        f"+ {TEST_IMAGES} test images)",
    }
    log(f"poolbench bench on {header['device']}, torch {header['torch']}, commit {header['commit']}")
    rows: list[Row] = []
    result: dict[str, Any] = {**header, "rows": []}
    for m in bc.models:
        rows += bench_model(m, bc, device, log, over)
        result = {**header, "rows": [dict(asdict(r), steps_per_s=r.steps_per_s()) for r in rows]}
        if on_model is not None:
            on_model(result)
    return result


def merge_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several bench invocations on one machine (e.g. fp32 eager, compiled, bf16) as one result:
    the first one's header, every part's command and config, all rows (each with its part's index)."""
    if not parts:
        raise ValueError("no bench results to merge")
    out = {k: v for k, v in parts[0].items() if k not in ("rows", "config", "command")}
    out["parts"] = [{"command": p.get("command", ""), "date": p["date"], "config": p.get("config")} for p in parts]
    out["rows"] = [dict(r, part=i) for i, p in enumerate(parts) for r in p["rows"]]
    out["command"] = " ; ".join(p.get("command", "") for p in parts)
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=list))


# ----------------------------------------------------------------------------- output
def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def format_table(result: dict[str, Any]) -> str:
    head = (
        "| model | path | K | mode | amp | ms/step | steps/s | images/s | eval ms/1k img | min/run (proj.) "
        "| runs/device-hour | x baseline | note |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in result["rows"]:
        amp = r.get("amp", "none")
        lines.append(
            f"| {r['model']} | {r['path']} | {r['k']} | {r.get('mode', 'eager')} | "
            f"{'bf16 (non-standard)' if amp == 'bf16' else 'fp32'} | {_fmt(r['step_ms'], '.2f')} | "
            f"{_fmt(r['steps_per_s'], '.1f')} | {_fmt(r['images_per_s'], '.0f')} | "
            f"{_fmt(r['eval_ms_per_1k'], '.1f')} | {_fmt(r['min_per_run'], '.1f')} | "
            f"{_fmt(r['runs_per_hour'], '.2f')} | {_fmt(r['speedup'], '.2f')} | {r['note']} |"
        )
    return "\n".join(lines)


def write_results(result: dict[str, Any], out_dir: str = "benchmarks/results") -> list[Path]:
    """``<date>-<device>-<commit>.json`` and ``.md`` under ``out_dir``; returns the paths."""
    slug = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")[:40]
    stem = f"{result['date'][:10]}-{slug}-{result['commit'][:7]}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_text(js, json.dumps(result, indent=2) + "\n")
    commands = [p["command"] for p in result.get("parts", [])] or [result.get("command", "")]
    cuda = "".join(f"- {k}: {result[k]}\n" for k in ("cuda", "cudnn", "tf32_conv", "tf32_matmul") if k in result)
    atomic_write_text(
        md,
        f"# Throughput: {result['device']}\n\n"
        f"- date: {result['date']}\n- device: {result['device']} ({result['threads']} threads; "
        f"cpu: {result.get('cpu', '?')}; {result.get('cpus', '?')} cores; load average at start "
        f"{result.get('load_average', '?')})\n"
        f"- torch: {result['torch']}\n{cuda}- commit: {result['commit']}\n"
        + "".join(f"- command: `{c}`\n" for c in commands)
        + f"- projection: {result['projection']}\n- amp bf16 rows are a non-standard option "
        f"(the protocol is fp32); speed-ups are against the plain eager baseline of the same command\n\n"
        f"{format_table(result)}\n",
    )
    return [js, md]
