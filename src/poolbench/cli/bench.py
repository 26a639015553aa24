"""``poolbench bench``: training throughput, baseline vs poolbench vs packed (see ``poolbench.bench``)."""

from __future__ import annotations

import argparse
import shlex
import sys

from ._validate import device_name, finite_float, folder, int_at_least, int_list, registered_names


def _names(text: str):
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give a comma list of names")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure training throughput (steps/s, images/s, projected run time)",
        description="Time a plain eager loop against poolbench's training path and packed "
        "training of K models, and project minutes per full 200-epoch run. "
        "Writes a table to stdout and JSON + Markdown to --out.",
    )
    p.add_argument(
        "--models",
        type=registered_names("model"),
        default=["resnet20", "resnet56", "vgg16_bn", "mobilenetv2"],
        help="comma-separated",
    )
    p.add_argument("--packs", type=int_list(1), help="K values to time (default 1,4 on CPU, 1,4,8,16 on a GPU)")
    p.add_argument("--steps", type=int_at_least(1), help="timed steps per round (default 5 on CPU, 50 on a GPU)")
    p.add_argument("--warmup", type=int_at_least(0), help="untimed steps first (default 2 on CPU, 20 on a GPU)")
    p.add_argument("--rounds", type=int_at_least(1), default=2, help="alternating rounds; the median is reported")
    p.add_argument(
        "--eval-images", type=int_at_least(1), help="test images timed per round (default 1000 CPU, 10000 GPU)"
    )
    p.add_argument("--batch-size", type=int_at_least(1), default=128)
    p.add_argument(
        "--amp",
        choices=["none", "bf16"],
        default="none",
        help="bf16 autocast (a non-standard option, recorded in every row)",
    )
    p.add_argument("--no-channels-last", action="store_true", help="time poolbench's path in NCHW")
    p.add_argument(
        "--modes",
        type=_names,
        default=None,
        help="poolbench's path in each of: eager, compile (torch.compile), cudagraphs "
        "(torch.compile mode=reduce-overhead); default eager",
    )
    p.add_argument("--compile", action="store_true", help="same as --modes compile")
    p.add_argument(
        "--baselines",
        type=_names,
        default=("plain", "dataloader"),
        help="what a user would otherwise run: plain (eager loop on resident data), dataloader "
        "(DataLoader + per-image transforms, the seed harness's way); default both",
    )
    p.add_argument("--no-baseline", action="store_true", help="time no baseline")
    p.add_argument(
        "--loader-workers",
        type=int_at_least(0),
        help="DataLoader workers of the dataloader baseline (default 0 on CPU, 8 on a GPU)",
    )
    p.add_argument(
        "--budget-s",
        type=finite_float(0.0, low_open=True),
        help="stop starting new paths and rounds after this many seconds",
    )
    p.add_argument(
        "--threads",
        type=int_at_least(1),
        help="torch.set_num_threads (CPU; default: torch's own, one per core; recorded in the results)",
    )
    p.add_argument("--device", type=device_name, help="cpu or cuda[:i] (default: cuda when available)")
    p.add_argument("--out", type=folder, default="benchmarks/results", help="directory for the JSON/Markdown results")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import torch

    from ..bench import BenchConfig, format_table, run_bench, write_results
    from ..models import list_models
    from ..train.engine import auto_device
    from ._validate import check_device, one_line_error

    def given(value, default):  # a value given is used as given (0 is not "not given")
        return default if value is None else value

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        check_device(args.device)
        unknown = [m for m in args.models if m not in list_models()]
        if unknown:
            raise ValueError(f"--models: unknown model {', '.join(unknown)}; use {', '.join(list_models())}")
        gpu = auto_device(args.device).type == "cuda"
        bc = BenchConfig(
            models=list(args.models),
            packs=given(args.packs, (1, 4, 8, 16) if gpu else (1, 4)),
            steps=given(args.steps, 50 if gpu else 5),
            warmup=given(args.warmup, 20 if gpu else 2),
            rounds=args.rounds,
            eval_images=given(args.eval_images, 10000 if gpu else 1000),
            batch_size=args.batch_size,
            amp=args.amp,
            channels_last=not args.no_channels_last,
            modes=args.modes or (("compile",) if args.compile else ("eager",)),
            baselines=() if args.no_baseline else args.baselines,
            loader_workers=args.loader_workers if args.loader_workers is not None else (8 if gpu else 0),
            budget_s=args.budget_s,
            device=args.device,
        )
    except ValueError as exc:
        print(one_line_error("poolbench bench", exc), file=sys.stderr)
        return 2
    argv = sys.argv[sys.argv.index("bench") :] if "bench" in sys.argv else None
    command = "poolbench " + shlex.join(argv) if argv else f"poolbench.bench.run_bench({bc})"

    def write(result) -> list:  # after every model too: a bench killed by its caller keeps what it measured
        result["command"] = command
        return [] if args.no_write else write_results(result, args.out)

    result = run_bench(bc, log=lambda s: print(s, file=sys.stderr), on_model=write)
    print(format_table(result))
    for path in write(result):
        print(f"wrote {path}")
    return 0
