"""``poolbench reproduce birodkar2019``: Table 1 (and Table 4) of Birodkar, Mobahi, Krishnan & Bengio
2019, "A Closed-Form Learned Pooling for Deep Classification Networks", run as the paper ran it.

The workflow (Sec. 3.6 "Use in Deep Networks", Sec. 6.2, 6.4), per setting (model x dataset):

1. train the model with its default pooling (strided convolutions) on the training set: the
   *baseline*, one run per seed;
2. cross-validation over (layer, alpha, norm): for each of ``--folds`` distinct held-out subsets of
   the training set (``RunConfig.holdout``; 10% for CIFAR, 5% for SVHN, 20% of reduced sets), train
   the baseline on the rest, fit the pooling on it (at most 10,000 images per class, Sec. 6.4), replace
   that downsampling and retrain from random initialisation; the setting with the lowest mean held-out
   error is chosen (the fit never sees the held-out images);
3. fit the chosen setting on the first seed's baseline (full training set), retrain from random
   initialisation with every seed: the *replaced pooling* row;
4. ``--sgd-pooling``: Table 4's comparison, the same pooling map (two copies, no closed form, no
   regulariser) learned by SGD with the network, at the chosen layer.

Errors are final-epoch test errors (%), mean +- std over seeds, with n, the seeds and the protocol
label; the difference (replaced - baseline) has a 95% bootstrap interval. Everything is a run
directory (trained through the local executor, ``sweep.run_sweep``: finished runs are skipped,
unfinished ones resume) or a fitted weights file under ``--runs-dir``/birodkar2019-weights
(``lda.fit_layer``; kept once written: its sha is part of the runs' ids), so an interrupted
reproduction resumes; ``--report-only`` runs nothing and prints what exists. Runs are trained one
after another on this machine; several ``reproduce`` processes may share the work (the local
executor claims each run, and each fit is claimed the same way: ``executors.claims``).

Settings: the paper's eight (``cnn-reduced-svhn`` ... ``resnet-cifar100``, with the paper's presets)
and two CPU-sized stand-ins labelled non-standard (``cnn-fmnist-5pct``, ``cnn-cifar10jpg-5pct``: a
fixed 5% of Fashion-MNIST / of the CIFAR-10 JPEG copy). What is not implemented: replacing several
layers in sequence *inside* the search (the paper's CIFAR-10 ResNet row, 3rd then 1st); the
surgery itself supports it (``--lda-layer 3,1``), the search picks one layer.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...train.surgery import entry

NAME = "birodkar2019"
HELP = "Birodkar et al. 2019, Table 1 (+ Table 4): closed-form learned pooling, CV-selected, retrained"

# Table 1 and Table 4 of the paper: (baseline error, (layer, alpha, norm), replaced error, SGD-learned error)
PAPER: dict[str, dict[str, Any]] = {
    "cnn-reduced-svhn": dict(
        model="CNN",
        dataset="Reduced SVHN",
        base="32.53 ± 0.284",
        choice="3rd / 5 / l1",
        lda="21.56 ± 0.525",
        sgd="22.49 ± 0.49 (3rd)",
    ),
    "cnn-svhn": dict(
        model="CNN",
        dataset="SVHN",
        base="10.68 ± 0.435",
        choice="2nd / 25 / l2",
        lda="9.93 ± 0.47",
        sgd="9.19 ± 0.218 (3rd)",
    ),
    "cnn-cifar10": dict(
        model="CNN",
        dataset="CIFAR-10",
        base="14.59 ± 0.352",
        choice="3rd / 45 / l2",
        lda="16.08 ± 0.191",
        sgd="16.77 ± 0.796 (3rd)",
    ),
    "cnn-cifar100": dict(
        model="CNN",
        dataset="CIFAR-100",
        base="45.04 ± 0.397",
        choice="3rd / 5 / l2",
        lda="45.13 ± 0.483",
        sgd="48.17 ± 0.363 (3rd)",
    ),
    "resnet-reduced-svhn": dict(
        model="ResNet",
        dataset="Reduced SVHN",
        base="12.38 ± 0.33",
        choice="2nd / 25 / l1",
        lda="10.46 ± 0.534",
        sgd="13.78 ± 0.357 (3rd)",
    ),
    "resnet-svhn": dict(
        model="ResNet",
        dataset="SVHN",
        base="4.07 ± 0.126",
        choice="2nd / 10 / l1",
        lda="3.62 ± 0.057",
        sgd="3.97 ± 0.09 (3rd)",
    ),
    "resnet-cifar10": dict(
        model="ResNet",
        dataset="CIFAR-10",
        base="4.57 ± 0.123",
        choice="3rd, 1st / 15, 65 / l2, l1",
        lda="4.3 ± 0.151",
        sgd="18.33 ± 2.612 (1st)",
    ),
    "resnet-cifar100": dict(
        model="ResNet", dataset="CIFAR-100", base="22.31 ± 0.2896", choice="2nd / 5 / l1", lda="21.5 ± 0.145", sgd="-"
    ),
}


@dataclass(frozen=True)
class Setting:
    model: str
    dataset: str
    preset: str
    train_fraction: float | None  # a fixed fraction of the training set ("reduced"), None = all
    cv_fraction: float  # held out per fold (Sec. 6.2)
    paper: str | None = None  # key into PAPER (None: a stand-in the paper did not run)
    model_args: tuple[tuple[str, Any], ...] = ()
    data_path: str | None = None


SETTINGS: dict[str, Setting] = {
    "cnn-reduced-svhn": Setting("cnn4", "svhn", "birodkar2019-cnn-svhn", 0.05, 0.2, "cnn-reduced-svhn"),
    "cnn-svhn": Setting("cnn4", "svhn", "birodkar2019-cnn-svhn", None, 0.05, "cnn-svhn"),
    "cnn-cifar10": Setting("cnn4", "cifar10", "birodkar2019-cnn-cifar", None, 0.1, "cnn-cifar10"),
    "cnn-cifar100": Setting("cnn4", "cifar100", "birodkar2019-cnn-cifar", None, 0.1, "cnn-cifar100"),
    "resnet-reduced-svhn": Setting(
        "preact_resnet18", "svhn", "birodkar2019-resnet-svhn", 0.05, 0.2, "resnet-reduced-svhn"
    ),
    "resnet-svhn": Setting("preact_resnet18", "svhn", "birodkar2019-resnet-svhn", None, 0.05, "resnet-svhn"),
    "resnet-cifar10": Setting("preact_resnet18", "cifar10", "birodkar2019-resnet-cifar", None, 0.1, "resnet-cifar10"),
    "resnet-cifar100": Setting(
        "preact_resnet18", "cifar100", "birodkar2019-resnet-cifar", None, 0.1, "resnet-cifar100"
    ),
    # CPU stand-ins (not in the paper): reduced sets like its reduced SVHN
    "cnn-fmnist-5pct": Setting("cnn4", "fashion_mnist", "birodkar2019-cnn-svhn", 0.05, 0.2),
    "cnn-cifar10jpg-5pct": Setting(
        "cnn4", "imagefolder", "birodkar2019-cnn-cifar", 0.05, 0.2, data_path="../shared/data/cifar10-jpg.tar.gz"
    ),
}

TRAIN_SIZES = {
    "svhn": 73257,
    "cifar10": 50000,
    "cifar100": 50000,
    "fashion_mnist": 60000,
    "imagefolder": 50000,
    "synthetic": 5000,
}


# ----------------------------------------------------------------------------- configs
@dataclass
class Plan:
    """What one setting needs, as RunConfigs and weights-file paths (``--report-only`` builds it too)."""

    name: str
    setting: Setting
    args: argparse.Namespace

    def protocol(self):
        from ...train.presets import preset

        over: dict[str, Any] = {}
        n = self.train_size()
        if self.setting.train_fraction is not None:
            over["train_subset"] = int(round(self.setting.train_fraction * n))
        for key in ("epochs", "test_subset"):
            if getattr(self.args, key, None) is not None:
                over[key] = getattr(self.args, key)
        return preset(self.setting.preset, **over)

    def train_size(self) -> int:
        return int(getattr(self.args, "train_size", None) or TRAIN_SIZES.get(self.setting.dataset, 50000))

    def model_args(self) -> dict[str, Any]:
        d = dict(self.setting.model_args)
        d.update(self.args.model_arg or {})
        return d

    def config(self, seed: int, fold: int | None = None, surgery: dict[str, Any] | None = None):
        """One run of the setting; ``surgery``: one ``RunConfig.surgery`` entry (``train/surgery.py``)."""
        from ...train import RunConfig

        return RunConfig(
            model=self.setting.model,
            dataset=self.setting.dataset,
            seed=seed,
            protocol=self.protocol(),
            holdout=None if fold is None else {"fraction": self.setting.cv_fraction, "fold": fold},
            model_args=self.model_args(),
            surgery=() if surgery is None else (surgery,),
            data_path=self.args.data_path or self.setting.data_path,
            data_dir=self.args.data_dir,
        )

    def weights_path(self, fold: int | None, layer: int, alpha: float, norm: str) -> Path:
        tag = "full" if fold is None else f"fold{fold}"
        return Path(self.args.runs_dir) / "birodkar2019-weights" / self.name / f"{tag}-L{layer}-a{alpha:g}-{norm}.pt"

    def grid(self) -> list[tuple[int, float, str]]:
        return list(itertools.product(self.args.layers, self.args.alphas, self.args.norms))


def fit_weights(base_run: Path, path: Path, layer: int, alpha: float, norm: str, device: str | None) -> Path | None:
    """The pooling at ``layer`` fitted on a finished baseline run (``lda.fit_layer``, as ``poolbench
    fit-lda`` fits it) and written to ``path`` (kept if the file exists: its sha is in run ids); None
    while another process is fitting it."""
    if path.exists():
        return path
    from ...executors import claims
    from ...lda.fit_layer import fit_layer, layer_shape, save_layer_fit
    from .._trained import load_trained

    with claims.claimed(path) as mine:
        if not mine:
            return None
        config, data, model = load_trained(base_run, device)
        shape = layer_shape(model, data, layer)
        print(f"[birodkar2019] fitting {path.name} on {base_run.name}: layer {layer} ({shape.describe()})", flush=True)
        p, meta = fit_layer(model, data, shape, alpha=alpha, norm=norm)
        meta.update(source_run=base_run.name, layer=layer, model=config.model, dataset=config.dataset)
        save_layer_fit(path, shape, p, meta)  # atomically: whole or absent, as a run's identity needs
    return path


# ----------------------------------------------------------------------------- running
def _result(runs_dir: Path, config) -> dict[str, Any] | None:
    from ...data import DataError
    from ...runs import RunDir
    from ...train.resolve import resolve

    try:
        run_id = resolve(config).run_id  # fingerprints the run's selected data
    except (ValueError, DataError, FileNotFoundError):  # a fold that does not fit, data or weights not here
        return None
    return RunDir(runs_dir, run_id).read_result()


def _error(result: dict[str, Any] | None, key: str) -> float | None:
    """Final-epoch error (%) of a finished, finite run; None for missing, unfinished or diverged."""
    if not result or result.get("status") != "finished":
        return None
    if key == "val":
        return None if result.get("final_val_acc") is None else 100.0 - result["final_val_acc"]
    return None if result.get("final_test_acc") is None else 100.0 - result["final_test_acc"]


def held_elsewhere(args: argparse.Namespace) -> list[str]:
    """The runs and weights files this command skipped because another live process holds them:
    the table is then incomplete, which the command says (and its exit status shows)."""
    if not hasattr(args, "held_elsewhere"):
        args.held_elsewhere = []
    return args.held_elsewhere


def _train(configs: list, args: argparse.Namespace) -> list[dict[str, Any] | None]:
    """Each config's result, trained through the local executor where missing (one after another
    on ``--device``; unless ``--report-only``); None for a run another live process holds (noted in
    ``held_elsewhere``) or, with ``--report-only``, one that does not exist."""
    runs_dir = Path(args.runs_dir)
    if args.report_only or not configs:
        return [_result(runs_dir, c) for c in configs]
    from ...executors.local import LocalExecutor
    from ...executors.protocol import HELD
    from ...sweep import run_sweep
    from ...train.resolve import resolve

    configs = [resolve(c) for c in configs]  # reads the data (downloads an official archive if missing)
    executor = LocalExecutor(pack=1, progress=False, device=args.device, stop_on_error=True)
    results = run_sweep(configs, runs_dir, executor, index=False).results
    out: list[dict[str, Any] | None] = []
    for config in configs:
        result = results[config.run_id]
        if result.get("status") == HELD:
            print(f"[birodkar2019] {config.run_id} is being trained by another process; skipped here", flush=True)
            held_elsewhere(args).append(config.run_id)
            out.append(None)
        else:
            out.append(result)
    return out


def _fitted(args: argparse.Namespace, base_run: Path, path: Path, layer: int, alpha: float, norm: str) -> Path | None:
    """``fit_weights`` unless ``--report-only`` (then only a file that exists); a fit another live
    process holds is noted in ``held_elsewhere``."""
    if args.report_only:
        return path if path.exists() else None
    fitted = fit_weights(base_run, path, layer, alpha, norm, args.device)
    if fitted is None:
        held_elsewhere(args).append(str(path))
    return fitted


def run_setting(plan: Plan) -> dict[str, Any]:
    """Steps 1-4 for one setting, running what is missing (unless --report-only); returns its row."""
    from ...train.resolve import resolve

    args, runs_dir = plan.args, Path(plan.args.runs_dir)
    row: dict[str, Any] = {
        "name": plan.name,
        "setting": plan.setting,
        "protocol": plan.protocol().label(),
        "seeds": list(args.seeds),
        "cv": {},
        "model_args": plan.model_args(),
    }
    base = dict(zip(args.seeds, _train([plan.config(s) for s in args.seeds], args), strict=True))
    row["base"] = {s: _error(r, "test") for s, r in base.items()}
    # cross-validation: per fold a baseline without the held-out images, a fit on it, each grid point
    fold_cfgs = [plan.config(args.seeds[0], fold) for fold in range(args.folds)]
    for fold, (fold_cfg, fold_base) in enumerate(zip(fold_cfgs, _train(fold_cfgs, args), strict=True)):
        row["cv"].setdefault("baseline", {})[fold] = _error(fold_base, "val")
        if _error(fold_base, "val") is None:
            continue
        points = []
        for layer, alpha, norm in plan.grid():
            path = plan.weights_path(fold, layer, alpha, norm)
            if _fitted(args, runs_dir / resolve(fold_cfg).run_id, path, layer, alpha, norm) is None:
                continue
            cfg = plan.config(args.seeds[0], fold, entry("lda_downsample", layer=layer, weights=str(path)))
            points.append(((layer, alpha, norm), cfg))
        for (point, _), result in zip(points, _train([cfg for _, cfg in points], args), strict=True):
            row["cv"].setdefault(point, {})[fold] = _error(result, "val")
    row["choice"] = choose(row["cv"], args.folds, plan.grid())
    row["lda"], row["sgd"] = {}, {}
    if row["choice"] is not None and row["base"].get(args.seeds[0]) is not None:
        layer, alpha, norm = row["choice"]
        path = plan.weights_path(None, layer, alpha, norm)
        if _fitted(args, runs_dir / resolve(plan.config(args.seeds[0])).run_id, path, layer, alpha, norm) is not None:
            cfgs = [plan.config(s, surgery=entry("lda_downsample", layer=layer, weights=str(path))) for s in args.seeds]
            row["lda"] = {s: _error(r, "test") for s, r in zip(args.seeds, _train(cfgs, args), strict=True)}
        if args.sgd_pooling:
            cfgs = [plan.config(s, surgery=entry("sgd_downsample", layer=layer)) for s in args.seeds]
            row["sgd"] = {s: _error(r, "test") for s, r in zip(args.seeds, _train(cfgs, args), strict=True)}
    return row


def write_figures(plan: Plan, row: dict[str, Any], out_dir: Path) -> list[Path]:
    """Figure 1 for a setting whose replaced-pooling runs exist: (a) the fitted map's 9 evenly spaced
    outputs, both copies; (b) per-class pooled maps of one channel (chosen at random, seed 0), the
    default strided downsampling of the first seed's baseline beside the learned pooling of the
    first seed's retrained model, on the run's test images."""
    import numpy as np

    from ...pools.lda import load_lda_weights
    from ...train.resolve import resolve
    from ...viz import module_outputs, plot_per_class_pooled_maps, plot_pooling_maps
    from .._trained import load_trained

    if row["choice"] is None or row["lda"].get(plan.args.seeds[0]) is None:
        return []
    layer, alpha, norm = row["choice"]
    p, meta = load_lda_weights(plan.weights_path(None, layer, alpha, norm))
    written = []
    for copy in range(p.shape[0]):
        written.append(
            plot_pooling_maps(
                p.numpy(),
                meta["size"],
                meta["out_size"],
                out_dir / f"{plan.name}-pooling-map-copy{copy}.png",
                copy=copy,
                title=f"{plan.name}: layer {layer}, alpha {alpha:g}, {norm}, copy {copy} (red +, blue -)",
            )
        )
    runs_dir = Path(plan.args.runs_dir)
    seed = plan.args.seeds[0]
    lda_cfg = plan.config(
        seed, surgery=entry("lda_downsample", layer=layer, weights=str(plan.weights_path(None, layer, alpha, norm)))
    )
    outputs, labels, classes = {}, None, None
    for name, cfg in (("strided conv (baseline)", plan.config(seed)), ("learned pooling", lda_cfg)):
        _, data, model = load_trained(runs_dir / resolve(cfg).run_id, plan.args.device)
        downsampling = model.stages[layer][0]
        module = downsampling[0] if name == "learned pooling" else downsampling
        outputs[name] = module_outputs(model, module, data.inputs(data.test_x))
        labels, classes = data.test_y, [str(c) for c in range(data.num_classes)]
    channel = int(np.random.default_rng(0).integers(outputs["learned pooling"].shape[1]))
    written.append(
        plot_per_class_pooled_maps(outputs, labels, out_dir / f"{plan.name}-per-class-pooled.png", channel, classes)
    )
    return written


def choose(
    cv: dict[Any, dict[int, float | None]], folds: int, grid: Sequence[tuple[int, float, str]]
) -> tuple[int, float, str] | None:
    """The grid point with the lowest mean held-out error over all folds; None until *every* point of the
    grid has a finished run on every fold (a choice among a partial grid would not be the CV's)."""

    def complete(key) -> bool:
        v = cv.get(key, {})
        return len(v) == folds and all(e is not None for e in v.values())

    if not grid or not all(complete(key) for key in grid):
        return None
    return min((sum(cv[key].values()) / folds, key) for key in grid)[1]


# ----------------------------------------------------------------------------- report
def _ms(errors: dict[int, float | None]) -> str:
    from ...results.stats import summarize

    vals = [e for e in errors.values() if e is not None]
    if not vals:
        return "-"
    mean, std, n = summarize(vals)
    return f"{mean:.2f} ± {std:.2f} (n={n})" if n > 1 else f"{mean:.2f} (n=1)"


def _ordinal(layer: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(layer, f"{layer}th")


def format_rows(rows: Sequence[dict[str, Any]], folds: int) -> str:
    from ...results.stats import compare_groups

    head = (
        "| setting | model | dataset | baseline error (ours) | paper | layer / alpha / norm (ours, CV) | paper "
        "| error with replaced pooling (ours) | paper | replaced - baseline, 95% CI | SGD-learned map (ours) "
        "| paper (Table 4) |"
    )
    lines = [head, "|" + "---|" * 12]
    notes = []
    for r in rows:
        s, paper = r["setting"], PAPER.get(r["setting"].paper or "", {})
        choice = r["choice"]
        chosen = f"{_ordinal(choice[0])} / {choice[1]:g} / {choice[2]}" if choice else "-"
        ci = "-"
        a = [e for e in r["lda"].values() if e is not None]
        b = [e for e in r["base"].values() if e is not None]
        if len(a) > 1 and len(b) > 1:
            cmp = compare_groups(a, b)
            if cmp["ci95"]:
                ci = f"{cmp['mean_diff']:+.2f} [{cmp['ci95'][0]:+.2f}, {cmp['ci95'][1]:+.2f}]"
        model = s.model + "".join(f" {k}={v}" for k, v in r.get("model_args", {}).items())
        lines.append(
            f"| {r['name']} | {model} | {s.dataset}{'' if s.train_fraction is None else f' ({s.train_fraction:.0%})'} "
            f"| {_ms(r['base'])} | {paper.get('base', 'not in paper')} | {chosen} | {paper.get('choice', '-')} "
            f"| {_ms(r['lda'])} | {paper.get('lda', '-')} | {ci} | {_ms(r['sgd'])} | {paper.get('sgd', '-')} |"
        )
        cv = "; ".join(f"{_ordinal(k[0])}/{k[1]:g}/{k[2]}: {_ms(v)}" for k, v in r["cv"].items() if k != "baseline")
        notes.append(
            f"- {r['name']}: protocol {r['protocol']}; seeds {r['seeds']}; CV ({folds} folds, "
            f"{s.cv_fraction:.0%} held out, held-out error %, mean ± std over folds): baseline "
            f"{_ms(r['cv'].get('baseline', {}))}; {cv or 'none yet'}"
        )
    return "\n".join(lines + [""] + notes)


# ----------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    from ...runs import default_runs_dir
    from .._args import kv_pair, parse_seeds
    from .._validate import device_name, existing_path, float_list, folder, int_at_least, int_list, name_list

    p.add_argument(
        "settings", nargs="*", default=None, help=f"which rows (default: the paper's eight): {', '.join(SETTINGS)}"
    )
    p.add_argument("--seeds", type=parse_seeds, default=list(range(5)), help="trials (default 0-4, the paper's 5)")
    p.add_argument("--folds", type=int_at_least(1), default=5, help="distinct held-out subsets (default 5, Sec. 6.2)")
    p.add_argument("--layers", type=int_list(1, 3), default=[1, 2, 3], help="downsamplings to search (1..3)")
    p.add_argument(
        "--alphas",
        type=float_list(0.0),
        default=[5.0, 10.0, 15.0, 25.0, 45.0, 65.0],
        help="alpha grid (default: the values in the paper's Table 1)",
    )
    p.add_argument("--norms", type=name_list(["l1", "l2"]), default=["l1", "l2"])
    p.add_argument("--epochs", type=int_at_least(1), help="override the preset's epochs (non-standard, labelled)")
    p.add_argument("--test-subset", type=int_at_least(1), help="evaluate on a fixed subset of the test set (labelled)")
    p.add_argument(
        "--model-arg",
        action="append",
        type=kv_pair("--model-arg"),
        default=None,
        metavar="K=V",
        help="extra model keyword (e.g. width=16 for cnn4; labelled in the run ids)",
    )
    p.add_argument("--sgd-pooling", action="store_true", help="also Table 4: the pooling map learned by SGD")
    p.add_argument("--report-only", action="store_true", help="run nothing; report what exists")
    p.add_argument(
        "--figures", type=folder, help="write Figure 1 pictures (pooling maps, per-class pooled maps) into this folder"
    )
    p.add_argument("--runs-dir", type=folder, default=str(default_runs_dir()))
    p.add_argument("--data-dir", type=folder)
    p.add_argument("--data-path", type=existing_path(), help="override the setting's data path (imagefolder stand-ins)")
    p.add_argument("--device", type=device_name)


def main(args: argparse.Namespace) -> int:
    if args.model_arg:
        args.model_arg = {k: v for d in args.model_arg for k, v in d.items()}
    names = args.settings or [k for k, s in SETTINGS.items() if s.paper]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        print(
            f"poolbench reproduce birodkar2019: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(SETTINGS)}",
            file=sys.stderr,
        )
        return 2
    if args.folds < 1 or not args.seeds:
        print("poolbench reproduce birodkar2019: need --folds >= 1 and at least one seed", file=sys.stderr)
        return 2
    from ...data import DataError

    rows = []
    for name in names:
        try:
            rows.append(run_setting(Plan(name, SETTINGS[name], args)))
        except (ValueError, DataError) as exc:
            print(f"poolbench reproduce birodkar2019: {name}: {exc}", file=sys.stderr)
            return 2
    print(
        "Birodkar et al. 2019, Table 1 / Table 4 layout: test error % (final epoch), mean ± std over seeds; "
        "ours beside the paper's. Protocols are the paper's presets (NON-STANDARD for the pooling benchmark), "
        "with any override named in the notes.\n"
    )
    print(format_rows(rows, args.folds))
    for row in rows if args.figures else []:
        for path in write_figures(Plan(row["name"], row["setting"], args), row, Path(args.figures)):
            print(f"wrote {path}")
    held = held_elsewhere(args)
    if held:
        print(
            f"poolbench reproduce birodkar2019: {len(held)} run(s) or fit(s) are held by other live processes "
            f"(e.g. {held[0]}) and are missing from this table; run the same command again when they finish",
            file=sys.stderr,
        )
        return 1
    return 0
