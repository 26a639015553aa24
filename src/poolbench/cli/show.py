"""``poolbench show RUN``: pictures of a trained run, written into its directory (or ``--out``).

* ``pool_weights.png``: learned spatial weights of the flex / lda / attn pools (and LDA
  downsamplings, auxiliary heads' pools) as heat maps; skipped for pools that learn none;
* ``curves.png``: accuracy and loss per epoch;
* ``class_features.png``: per-class mean of the pooled features the classifier reads.
The report (``poolbench report``) embeds the ``*.png`` files it finds in run directories.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runs import default_runs_dir
from ._pool_trust import add_pool_file_arguments
from ._validate import device_name, folder, int_at_least


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="write PNG pictures of a trained run (pool weights, curves, class features)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="run directory or run id")
    p.add_argument("--runs-dir", type=folder, default=str(default_runs_dir()))
    p.add_argument("--out", type=folder, help="directory for the PNGs (default: the run directory)")
    p.add_argument("--n", type=int_at_least(1), default=1000, help="test images for attention maps and class features")
    p.add_argument("--device", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    add_pool_file_arguments(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        return _show(args)
    except ValueError as exc:  # a refused pool file, a damaged run, a planted link where a picture goes
        print(f"poolbench show: {exc}", file=sys.stderr)
        return 2


def _show(args: argparse.Namespace) -> int:
    from .. import viz
    from ..data import load_dataset
    from ..fileio import atomic_write_bytes
    from ..results.plots import run_curves
    from ..robustness.evaluate import select_images
    from ..runs import RunDir
    from ._trained import load_trained, resolve_run

    run_dir = resolve_run(args.run, args.runs_dir)
    config, data, model = load_trained(
        run_dir, args.device, full_test=True, trust_pool_file=args.trust_pool_file, pool_file=args.pool_file
    )
    out = Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    written = []
    history = RunDir(run_dir.parent, run_dir.name).read_metrics()
    if history:
        png = run_curves(history, f"{run_dir.name} [{config.protocol_label()}]")
        atomic_write_bytes(out / "curves.png", png)
        written.append("curves.png")
    x_u8, y = select_images(data.test_x, data.test_y, args.n)
    x = data.inputs(x_u8)  # as the run was trained: per-channel or per-image (a preset)
    images = x_u8[:8].permute(0, 2, 3, 1).float().div(255).cpu().numpy()
    if images.shape[-1] == 1:
        images = images.repeat(3, -1)
    if viz.plot_pool_weights(model, x[:256], out / "pool_weights.png", images):
        written.append("pool_weights.png")
    else:
        print(f"{config.pool}: no learned spatial weights to draw (pool_weights.png skipped)")
    classes = load_dataset(config.dataset, data_path=config.data_path, data_dir=config.data_dir).classes
    viz.plot_class_features(
        viz.pooled_features(model, x),
        y,
        classes,
        out / "class_features.png",
        f"{run_dir.name}: per-class mean pooled features ({len(y)} test images)",
    )
    written.append("class_features.png")
    print(f"wrote {', '.join(written)} in {out}")
    return 0
