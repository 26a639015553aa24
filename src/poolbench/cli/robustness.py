"""``poolbench robustness RUN [--baseline RUN2]``: CIFAR-10-C / CIFAR-10-P robustness of a run.

Evaluates the run on the released sets when given (``--cifar10c DIR`` / ``--cifar100c DIR`` with
``<corruption>.npy`` + ``labels.npy``; ``--cifar10p DIR`` / ``--cifar100p DIR`` with
``<sequence>.npy``), otherwise on sets generated from a fixed subset of the run's own test images
(``--n``; cached under the data cache, checksummed) with the reference generators' definitions.
Prints the layout of Tables 2 and 3 of the closed-form pooling paper: error per severity and
corruption, CE / relative CE against the baseline; flip probability per difficulty and sequence,
flip rate against the baseline; with mCE over the 15 benchmark corruptions and mFR over the 10
benchmark perturbations (each mean says over how many it is taken; the extras are reported apart).
Writes ``RUN/robustness.json``; the baseline's measurement is cached beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..runs import default_runs_dir
from ._args import parse_seeds
from ._pool_trust import add_pool_file_arguments
from ._validate import device_name, existing_path, folder, int_at_least, output_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness",
        help="CIFAR-10-C / -P robustness of a trained run (CE, mCE, FP, FR)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="run directory or run id")
    p.add_argument("--baseline", help="run directory or id to compare against (CE, relative CE, flip rate)")
    p.add_argument("--runs-dir", type=folder, default=str(default_runs_dir()))
    c = p.add_mutually_exclusive_group()
    c.add_argument(
        "--cifar10c",
        type=existing_path("dir"),
        metavar="DIR",
        help="released CIFAR-10-C folder (<corruption>.npy + labels.npy)",
    )
    c.add_argument("--cifar100c", type=existing_path("dir"), metavar="DIR", help="released CIFAR-100-C folder")
    q = p.add_mutually_exclusive_group()
    q.add_argument(
        "--cifar10p", type=existing_path("dir"), metavar="DIR", help="released CIFAR-10-P folder (<sequence>.npy)"
    )
    q.add_argument("--cifar100p", type=existing_path("dir"), metavar="DIR", help="released CIFAR-100-P folder")
    p.add_argument(
        "--n",
        type=int_at_least(1),
        default=1000,
        help="test images for generated sets (a fixed subset; default %(default)s; the full split: 10000)",
    )
    p.add_argument("--severities", type=_severities, default=[1, 2, 3, 4, 5], help="e.g. 1-5 or 1,3,5 (each 1..5)")
    p.add_argument("--corruptions", help="comma list, 'standard' (the 15), 'all' (15 + 4 extras, default) or 'none'")
    p.add_argument("--perturbations", help="comma list, 'standard' (the 10), 'all' (10 + 4 extras, default) or 'none'")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="randomness of generated sets (default %(default)s)")
    p.add_argument("--cache", type=folder, help="folder for generated sets (default: the data cache's robustness/)")
    p.add_argument("--out", type=output_file, help="JSON file (default RUN/robustness.json)")
    p.add_argument("--device", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    add_pool_file_arguments(p)
    p.set_defaults(func=main)


def _severities(text: str) -> list[int]:
    """argparse type: '1-5' or '1,3,5', each a severity 1..5."""
    values = parse_seeds(text)
    if any(v not in (1, 2, 3, 4, 5) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: severities are 1..5, e.g. 1-5 or 1,3,5")
    return values


def _names(text: str | None, standard: list[str], extras: list[str], what: str) -> list[str]:
    if not text or text == "all":
        return standard + extras
    if text == "standard":
        return list(standard)
    if text == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in standard + extras]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(bad)}; valid: {', '.join(standard + extras)}")
    return names


def _released(args: argparse.Namespace, kind: str):
    """(folder, expected classes) of a released set given on the command line, or (None, None)."""
    for classes in (10, 100):
        d = getattr(args, f"cifar{classes}{kind}")
        if d:
            if not Path(d).is_dir():
                raise ValueError(f"--cifar{classes}{kind} {d}: no such folder")
            return Path(d), classes
    return None, None


def _fingerprint(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """What else decides the numbers: the trained weights, the released files (size, mtime) and the
    version of the generator that makes the sets not given as released folders."""
    from ..fileio import LARGE_FILE_CAP, sha256_file
    from ..robustness.sets import GENERATOR_VERSION

    ckpt = run_dir / "checkpoint.pt"
    try:  # a regular file only: a FIFO or a link to /dev/zero in a run directory is refused, not read
        digest = sha256_file(ckpt, LARGE_FILE_CAP) if os.path.lexists(ckpt) else None
    except OSError as exc:
        raise ValueError(f"{ckpt}: {exc.strerror or exc}") from None
    out: dict[str, Any] = {"checkpoint_sha256": digest, "generator_version": GENERATOR_VERSION}
    for key in ("cifar_c", "cifar_p"):
        if settings.get(key):
            out[key] = sorted(
                [f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in Path(settings[key]).glob("*.npy")
            )
    return out


def measure(run_dir: Path, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The run's errors and flip statistics under ``settings`` (reused from robustness.json when the
    settings, the weights and the released files are the same)."""
    import numpy as np

    from ..data.datasets import default_cache_dir
    from ..robustness import evaluate, sets
    from ..robustness.perturbations import files_of
    from ..runs import read_json
    from ._trained import device_of, load_trained

    fingerprint = _fingerprint(run_dir, settings)
    cached = read_json(run_dir / "robustness.json")
    if cached and cached.get("settings") == settings and cached.get("fingerprint") == fingerprint:
        return cached
    config, data, model = load_trained(
        run_dir, args.device, full_test=True, trust_pool_file=args.trust_pool_file, pool_file=args.pool_file
    )
    dev = device_of(model)
    c_dir, c_classes = _released(args, "c")
    p_dir, p_classes = _released(args, "p")
    for classes in (c_classes, p_classes):
        if classes and classes != data.num_classes:
            raise ValueError(
                f"the run classifies {data.num_classes} classes ({config.dataset}); "
                f"a CIFAR-{classes} set needs a CIFAR-{classes} run"
            )
    if tuple(data.test_x.shape[1:]) != (3, 32, 32):
        raise ValueError(
            f"CIFAR-10-C/-P are 32x32 RGB; the run's {config.dataset} images are "
            f"{tuple(data.test_x.shape[1:])} (C, H, W): train on cifar10, cifar100 or a 32x32 RGB folder"
        )

    def as_hwc(t):  # N, C, H, W tensor -> N, H, W, C array
        return t.permute(0, 2, 3, 1).cpu().numpy()

    sub_x, sub_y = evaluate.select_images(data.test_x, data.test_y, settings["n"])  # generated sets' images
    x, y = (data.test_x, data.test_y) if c_dir else (sub_x, sub_y)  # a released -C set holds the whole split
    clean, labels = as_hwc(x), y.cpu().numpy().astype(np.int64)
    cache = Path(args.cache) if args.cache else default_cache_dir() / "robustness"

    def say(what: str) -> None:
        print(f"  {run_dir.name}: {what}", file=sys.stderr, flush=True)

    out: dict[str, Any] = {
        "run_id": run_dir.name,
        "dataset": config.dataset,
        "settings": settings,
        "fingerprint": fingerprint,
    }
    if settings["corruptions"]:
        if c_dir is None:
            c_dir = sets.generate_c(
                clean,
                labels,
                cache,
                settings["corruptions"],
                settings["seed"],
                progress=lambda n: say(f"generating {n}"),
            )
        out["corruption_source"] = str(c_dir)
        out.update(
            evaluate.corruption_errors(
                model,
                clean,
                labels,
                c_dir,
                settings["corruptions"],
                settings["severities"],
                data.inputs,
                dev,
                progress=lambda n: say(f"evaluating {n}"),
            )
        )
    else:
        out.update({"n": len(labels), "errors": {}, "clean": None})
    files = [f for p in settings["perturbations"] for f in files_of(p)]
    if files:
        if p_dir is None:
            p_dir = sets.generate_p(
                as_hwc(sub_x), cache, files, settings["seed"], progress=lambda n: say(f"generating {n}")
            )
        out["perturbation_source"] = str(p_dir)
        out["perturbation"] = evaluate.flip_statistics(
            model, p_dir, files, data.inputs, dev, progress=lambda n: say(f"evaluating {n}")
        )
    return out


def compare(res: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    from ..robustness import corruptions, metrics, perturbations

    cmp: dict[str, Any] = {"baseline": base["run_id"]}
    if res["errors"]:
        cmp["corruption"] = metrics.corruption_errors(res, base, list(corruptions.STANDARD))
    if res.get("perturbation"):
        groups = {p: perturbations.files_of(p) for p in res["settings"]["perturbations"]}
        fp = metrics.perturbation_fp(res["perturbation"]["flip_probability"], groups)
        base_fp = metrics.perturbation_fp(base["perturbation"]["flip_probability"], groups)
        cmp["flip"] = metrics.flip_rates(fp, base_fp, perturbations.STANDARD)
        cmp["flip"]["fp"], cmp["flip"]["baseline_fp"] = fp, base_fp
    return cmp


def main(args: argparse.Namespace) -> int:
    from ..robustness import corruptions, perturbations
    from ..robustness.tables import print_tables
    from ..runs import atomic_write_json
    from ._trained import resolve_run

    try:
        run_dir = resolve_run(args.run, args.runs_dir)
        base_dir = resolve_run(args.baseline, args.runs_dir) if args.baseline else None
        bad = [s for s in args.severities if s not in (1, 2, 3, 4, 5)]
        if bad or not args.severities:
            raise ValueError(f"severities must be within 1-5, got {args.severities}")
        if args.n is not None and args.n < 1:
            raise ValueError(f"--n must be at least 1, got {args.n}")
        settings = {
            "n": args.n,
            "severities": sorted(args.severities),
            "seed": args.seed,
            "corruptions": _names(args.corruptions, list(corruptions.STANDARD), list(corruptions.EXTRAS), "corruption"),
            "perturbations": _names(args.perturbations, perturbations.STANDARD, perturbations.EXTRAS, "perturbation"),
            "cifar_c": args.cifar10c or args.cifar100c,
            "cifar_p": args.cifar10p or args.cifar100p,
        }
        if "frost" in settings["corruptions"] and not settings["cifar_c"]:
            from ..robustness.frost import frost_dir

            try:
                frost_dir()  # refuses with the install hint before any work is done
            except ValueError as exc:
                raise ValueError(f"{exc} (or leave frost out: --corruptions with the others)") from None
        res = measure(run_dir, settings, args)
        base = measure(base_dir, settings, args) if base_dir else None
    except ValueError as exc:
        print(f"poolbench robustness: {exc}", file=sys.stderr)
        return 2
    cmp = None
    if base:
        if base["dataset"] != res["dataset"]:
            print(
                f"poolbench robustness: baseline is on {base['dataset']}, the run on {res['dataset']}", file=sys.stderr
            )
            return 2
        cmp = compare(res, base)
    print_tables(res, base, cmp)
    out = dict(res, comparison=cmp) if cmp else {k: v for k, v in res.items() if k != "comparison"}
    path = Path(args.out) if args.out else run_dir / "robustness.json"
    try:  # atomically, never through a link planted in a run directory
        if base and base_dir:
            atomic_write_json(base_dir / "robustness.json", {k: v for k, v in base.items() if k != "comparison"})
        atomic_write_json(path, out)
    except ValueError as exc:
        print(f"poolbench robustness: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
