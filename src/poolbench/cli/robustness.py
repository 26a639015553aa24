"""``poolbench robustness RUN [--baseline RUN]``: corruption errors and flip probabilities.

Corrupts a fixed subset of the run's test images with the 12 built-in corruptions at 5 severities
(CIFAR-10-C style, ``poolbench.robustness.corruptions``) and runs the 4 perturbation sequences
(CIFAR-10-P style), then prints and writes (``RUN/robustness.json``): the error per corruption and
severity, the flip probability per perturbation and, with ``--baseline``, the corruption error (CE,
relative CE; Table 2 of the closed-form pooling paper) and flip rate (FR; its Table 3) relative to
the baseline run. The baseline's own measurement is cached in its run directory and reused when
the settings match.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List

from ._args import DEFAULT_RUNS_DIR, parse_seeds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("robustness", help="corruption errors / flip probabilities of a trained run",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run directory or run id")
    p.add_argument("--baseline", help="run directory or id to compare against (CE, flip rate)")
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR)
    p.add_argument("--n", type=int, default=1000, help="test images (a fixed subset; default %(default)s)")
    p.add_argument("--severities", type=parse_seeds, default=[1, 2, 3, 4, 5], help="e.g. 1-5 or 1,3,5")
    p.add_argument("--corruptions", help="comma list (default: all 12)")
    p.add_argument("--perturbations", help="comma list (default: translate,rotate,scale,brightness); 'none' skips")
    p.add_argument("--seed", type=int, default=0, help="corruption randomness (default %(default)s)")
    p.add_argument("--out", help="JSON file (default RUN/robustness.json)")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(func=main)


def measure(run_dir: Path, settings: Dict[str, Any], device) -> Dict[str, Any]:
    """The run's errors and flip probabilities under ``settings`` (cached in robustness.json)."""
    from ..results.store import read_json
    from ..robustness.evaluate import corruption_errors, flip_probabilities, select_images
    from ._trained import device_of, load_trained

    cached = read_json(run_dir / "robustness.json")
    if cached and cached.get("settings") == settings and "n" in cached:
        return cached
    config, data, model = load_trained(run_dir, device, full_test=True)
    x, y = select_images(data.test_x, data.test_y, settings["n"])
    dev = device_of(model)
    out = {"run_id": run_dir.name, "dataset": config.dataset, "settings": settings}
    out.update(corruption_errors(model, x, y, data.mean, data.std, dev, settings["corruptions"],
                                 settings["severities"], settings["seed"]))
    out["flip_probability"] = flip_probabilities(model, x, data.mean, data.std, dev, settings["perturbations"])
    return out


def _names(text, default: List[str], what: str) -> List[str]:
    if not text:
        return list(default)
    if text == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in default]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(bad)}; valid: {', '.join(default)}")
    return names


def _fmt(v, width: int = 7) -> str:
    return f"{'n/a' if v is None else f'{v:.1f}':>{width}}"


def print_tables(res: Dict[str, Any], base: Dict[str, Any] = None, cmp: Dict[str, Any] = None) -> None:
    sev = [str(s) for s in res["settings"]["severities"]]
    print(f"{res['run_id']}: clean error {res['clean']:.2f}%" + (f" (baseline {base['clean']:.2f}%)" if base else ""))
    head = f"{'corruption':<18}" + "".join(f"{'s' + s:>7}" for s in sev) + f"{'mean':>7}"
    print(head + (f"{'CE':>7}{'rCE':>7}" if cmp else ""))
    for name, errs in res["errors"].items():
        vals = [errs[s] for s in sev]
        line = f"{name:<18}" + "".join(f"{v:7.2f}" for v in vals) + f"{sum(vals) / len(vals):7.2f}"
        if cmp:
            c = cmp["corruption"]["per_corruption"][name]
            line += f"{_fmt(c['ce'])}{_fmt(c['relative_ce'])}"
        print(line)
    if cmp:
        print(f"mCE {_fmt(cmp['corruption']['mCE'], 0)}  relative mCE {_fmt(cmp['corruption']['relative_mCE'], 0)}"
              f"  (100 = the baseline)")
    if res["flip_probability"]:
        print(f"{'perturbation':<18}{'FP%':>7}" + (f"{'base':>7}{'FR':>7}" if cmp else ""))
        for name, fp in res["flip_probability"].items():
            line = f"{name:<18}{fp:7.2f}"
            if cmp:
                line += f"{base['flip_probability'][name]:7.2f}{_fmt(cmp['flip']['per_perturbation'][name])}"
            print(line)
        if cmp:
            print(f"mFR {_fmt(cmp['flip']['mFR'], 0)}  (100 = the baseline)")


def main(args: argparse.Namespace) -> int:
    from ..results.store import atomic_write_json
    from ..robustness.corruptions import CORRUPTIONS
    from ..robustness.evaluate import flip_rates, relative_corruption_errors
    from ..robustness.perturbations import PERTURBATIONS
    from ._trained import resolve_run

    try:
        run_dir = resolve_run(args.run, args.runs_dir)
        base_dir = resolve_run(args.baseline, args.runs_dir) if args.baseline else None
        bad = [s for s in args.severities if s not in (1, 2, 3, 4, 5)]
        if bad or not args.severities:
            raise ValueError(f"severities must be within 1-5, got {args.severities}")
        settings = {"n": args.n, "severities": sorted(args.severities), "seed": args.seed,
                    "corruptions": _names(args.corruptions, list(CORRUPTIONS), "corruption"),
                    "perturbations": _names(args.perturbations, list(PERTURBATIONS), "perturbation")}
        res = measure(run_dir, settings, args.device)
        base = measure(base_dir, settings, args.device) if base_dir else None
    except ValueError as exc:
        print(f"poolbench robustness: {exc}", file=sys.stderr)
        return 2
    cmp = None
    if base:
        if base["dataset"] != res["dataset"]:
            print(f"poolbench robustness: baseline is on {base['dataset']}, the run on {res['dataset']}", file=sys.stderr)
            return 2
        atomic_write_json(base_dir / "robustness.json", {k: v for k, v in base.items() if k != "comparison"})
        cmp = {"baseline": base["run_id"], "corruption": relative_corruption_errors(res, base),
               "flip": flip_rates(res["flip_probability"], base["flip_probability"])}
    print_tables(res, base, cmp)
    out = dict(res, comparison=cmp) if cmp else {k: v for k, v in res.items() if k != "comparison"}
    path = Path(args.out) if args.out else run_dir / "robustness.json"
    atomic_write_json(path, out)
    print(f"wrote {path}")
    return 0
