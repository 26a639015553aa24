"""``poolbench fit-lda RUN``: closed-form pooling weights from a trained run (Birodkar et al. 2019).

Loads the run, extracts the feature maps entering ``--layer`` over the run's own training images
(at most ``--max-per-class`` per class, Sec. 6.4; no augmentation), normalises each channel by its
mean and variance over them (Sec. 3.6), accumulates A and B and solves (18) for every output
position (``poolbench.lda``). Then retrain from scratch with the weights fixed, as the paper does:

    poolbench run ... --lda-layer L --lda-weights FILE     (--layer 1|2|3: a stride-2 downsampling)
    poolbench run ... --pool lda --pool-arg weights=FILE   (--layer final: the global pool; not in the paper)

``--alpha`` is the paper's alpha (its Table 1 uses 5 to 65); there is no default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runs import default_runs_dir
from ._pool_trust import add_pool_file_arguments
from ._validate import device_name, finite_float, folder, int_at_least, output_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-lda",
        help="fit closed-form LDA pooling weights on a trained run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="run directory or run id")
    p.add_argument("--runs-dir", type=folder, default=str(default_runs_dir()))
    p.add_argument(
        "--layer",
        default="final",
        choices=["final", "1", "2", "3"],
        help="1|2|3: the L-th stride-2 downsampling (cnn4, preact_resnet18: 1-3; resnet20..110: 1-2); "
        "final: the global pool",
    )
    p.add_argument(
        "--alpha", type=finite_float(0.0), required=True, help="the paper's localisation penalty alpha (eq. 16)"
    )
    p.add_argument("--norm", choices=["l1", "l2"], default="l1", help="p / ||p||, l1 or l2 (Sec. 3.6)")
    p.add_argument(
        "--n-out", type=int_at_least(1), help="eigenvectors kept (default 1 final; the channel ratio, 2, for 1|2|3)"
    )
    p.add_argument(
        "--max-per-class", type=int_at_least(1), default=10000, help="images per class (default %(default)s, Sec. 6.4)"
    )
    p.add_argument(
        "--all-train",
        action="store_true",
        help="fit on the whole training split, not only the images the run trained on",
    )
    p.add_argument(
        "--ridge", type=finite_float(0.0), default=0.0, help="add ridge*I to B + alpha C (not in the paper; default 0)"
    )
    p.add_argument(
        "--centre",
        choices=["paper", "block"],
        default="paper",
        help="regulariser anchor: paper = s*coord(m), 1-based (default); block = the block centre",
    )
    p.add_argument(
        "--normalization",
        choices=["per-channel", "per-map"],
        default="per-channel",
        help="per-channel = the paper's Sec. 3.6 (default); per-map = poolbench's earlier reading",
    )
    p.add_argument("--batch", type=int_at_least(1), default=500)
    p.add_argument("--out", type=output_file, help="weights file (.pt/.npz/.json; default RUN/lda_<layer>.pt)")
    p.add_argument("--device", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    add_pool_file_arguments(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from ..lda.fit_layer import fit_layer, layer_shape, save_layer_fit
    from ._trained import load_trained, resolve_run

    try:
        run_dir = resolve_run(args.run, args.runs_dir)
        config, data, model = load_trained(
            run_dir,
            args.device,
            full_train=args.all_train,
            trust_pool_file=args.trust_pool_file,
            pool_file=args.pool_file,
        )
        layer = "final" if args.layer == "final" else int(args.layer)
        shape = layer_shape(model, data, layer, args.n_out)
        print(
            f"fit-lda {run_dir.name}: layer {layer} ({shape.describe()}), alpha {args.alpha}, norm {args.norm}, "
            f"<= {args.max_per_class} images per class"
        )
        p, meta = fit_layer(
            model,
            data,
            shape,
            alpha=args.alpha,
            norm=args.norm,
            max_per_class=args.max_per_class,
            batch=args.batch,
            ridge=args.ridge,
            centre=args.centre,
            normalization=args.normalization,
        )
    except ValueError as exc:
        print(f"poolbench fit-lda: {exc}", file=sys.stderr)
        return 2
    meta.update(source_run=run_dir.name, layer=layer, model=config.model, dataset=config.dataset)
    out = save_layer_fit(Path(args.out) if args.out else run_dir / f"lda_{layer}.pt", shape, p, meta)
    if layer == "final":
        use = f"--pool lda --pool-arg weights={out}"
    else:
        # a model that already has replaced layers keeps them (the paper's sequence: 3rd, then 1st)
        lda = next((e["args"] for e in config.surgery if e["name"] == "lda_downsample"), {})
        done = lda.get("layer")
        layers = ([] if done is None else [done] if isinstance(done, int) else list(done)) + [layer]
        files = lda.get("weights")
        files = ([] if files is None else [files] if isinstance(files, str) else list(files)) + [str(out)]
        use = f"--lda-layer {','.join(map(str, layers))} --lda-weights {','.join(files)}"
    h, w = shape.height, shape.width
    top = np.abs(p.reshape(-1, h * w)[0]).reshape(h, w)
    peak = np.unravel_index(top.argmax(), top.shape)
    print(
        f"eigenvalues {np.asarray(meta['eigenvalues']).reshape(shape.n_out, -1)[:, 0].round(4).tolist()}"
        f"{' (output 0)' if shape.out_size else ''}; peak |p| at {tuple(int(v) for v in peak)} of {h}x{w}"
    )
    data_args = "".join(
        f" --{k.replace('_', '-')} {v}"
        for k, v in (("data_path", config.data_path), ("data_dir", config.data_dir))
        if v
    )
    print(
        f"wrote {out}\nretrain from scratch: poolbench run --model {config.model} --dataset {config.dataset}"
        f"{data_args} {use}"
    )
    return 0
