"""Summarise the second CPU screen (NON-STANDARD protocols) into experiments/cpu-screen-v2/summary.md.

Reads the finished run directories beside this file. The selection rule is ``screen.select``
(validation accuracy only, fixed before the screen started); test accuracy is reported for the
selected variant, the other candidates and every baseline:

- the leaderboard per column: best-epoch test accuracy (the benchmark's metric), final-epoch
  test accuracy and test accuracy at the epoch of best validation accuracy, mean ± std (n);
- selected minus the best baseline (highest mean on that metric): Welch-t 95% CI (scipy; honest
  about n = 3, unlike a bootstrap) and the per-seed paired differences (same seed = same trunk
  initialisation and the same batches);
- the ablation: each component of the selected variant removed in turn;
- the 1x1 identity check: max, mixed and softpool against avg at seed 0.

    .venv/bin/python experiments/cpu-screen-v2/analyze.py        # writes summary.md and prints it
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402  (what the screens' analyses share)
from common import METRICS, load_cells, mean_std, welch_ci  # noqa: E402

from poolbench.results.stats import summarize  # noqa: E402

screen = common.import_screen(HERE)  # the protocols, candidates, baselines and the selection rule


def load() -> common.Cells:
    """{(column, pool label): rows of ended runs (finished or diverged), each with 'best_val'}.

    A diverged run keeps the accuracies of the epochs it completed (none if it diverged in its
    first); its cell says how many of its runs diverged, and the statistics use the finished runs."""
    return load_cells(HERE, screen.ended)


def ok(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] == "finished"]


def fmt(rows: list[dict], metric: str) -> str:
    """mean ± std (n) over the finished runs, and how many runs diverged."""
    div = len(rows) - len(ok(rows))
    return mean_std([r[metric] for r in ok(rows)]) + (f" **{div}/{len(rows)} diverged**" if div else "")


def label(args: dict) -> str:
    return common.label("gemgate", args)


def leaderboard(cells, col: str, rows_order: list[str], selected: str) -> list[str]:
    out = [
        "| pool | val (best epoch) | " + " | ".join(t for _, t in METRICS) + " | seeds |",
        "|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for lab in rows_order:
        rows = cells.get((col, lab), [])
        if rows:
            name = f"**`{lab}`** (selected)" if lab == selected else f"`{lab}`"
            out.append(
                f"| {name} | {fmt(rows, 'best_val')} | "
                + " | ".join(fmt(rows, m) for m, _ in METRICS)
                + f" | {sorted(r['seed'] for r in rows)} |"
            )
    return out + [""]


def versus_best_baseline(cells, col: str, selected: str) -> list[str]:
    out = []
    sel = sorted(ok(cells.get((col, selected), [])), key=lambda r: r["seed"])
    base = {
        b: sorted(ok(cells[(col, b)]), key=lambda r: r["seed"]) for b in screen.BASELINES if ok(cells.get((col, b), []))
    }  # a pool whose every run diverged has no mean to beat
    if col in screen.ONE_BY_ONE:  # max / mixed / softpool ran at one seed there, as an identity check
        base = {b: rows for b, rows in base.items() if b not in screen.SAME_AS_AVG_ON_1X1}
    for m, title in METRICS:
        if not sel or not base:
            continue
        best = max(base, key=lambda b: summarize([r[m] for r in base[b]])[0])
        a, b = [r[m] for r in sel], [r[m] for r in base[best]]
        diff = summarize(a)[0] - summarize(b)[0]
        pairs = {r["seed"]: r[m] for r in base[best]}
        paired = ", ".join(f"s{r['seed']} {r[m] - pairs[r['seed']]:+.2f}" for r in sel if r["seed"] in pairs)
        wins = all(summarize(a)[0] > summarize([r[m] for r in rows])[0] for rows in base.values())
        out.append(
            f"| {title} | `{best}` {summarize(b)[0]:.2f} | **{diff:+.2f}** | {welch_ci(a, b, with_p=True)} | "
            f"{paired} | {'yes' if wins else 'no'} |"
        )
    head = [
        "| metric | best baseline | Δ mean | Welch-t 95% CI of Δ | paired Δ per seed | above every baseline |",
        "|---|---|---|---|---|---|",
    ]
    dead = [b for b in screen.BASELINES if cells.get((col, b)) and not ok(cells[(col, b)])]
    notes = [f"Baselines whose every run diverged (no accuracy; counted as beaten): {dead}."] if dead else []
    if any(len(ok(cells[(col, b)])) < len(cells[(col, b)]) for b in base):
        notes += ["Partly diverged baselines are averaged over their finished runs only (in their favour)."]
    return head + out + [""] + notes + [""]


def learned_exponents(cells, col: str) -> list[str]:
    """Where did gemgate's per-channel p go? Read from the runs' final checkpoints (kept on the
    machine that trained them, not committed): p = clamp(init_p * exp(delta), p_min, 8)."""
    import torch

    from poolbench.pools.gemgate import P_MAX, P_MIN
    from poolbench.tensorfile import load_tensor_file

    out = []
    for lab in sorted(lab for (c, lab) in cells if c == col and lab.startswith("gemgate")):
        ps = []
        for r in ok(cells[(col, lab)]):
            ck = Path(r["path"]) / "checkpoint.pt"
            if ck.exists():
                state = load_tensor_file(ck)["model"]
                delta = state.get("head.pool.delta")
                args = json.loads(r["pool_args"])
                if delta is not None and delta.numel():
                    p_min = args.get("p_min", P_MIN)
                    ps.append((args.get("p", 3.0) * delta.float().exp()).clamp(p_min, P_MAX))
        if ps:
            p = torch.cat(ps)
            out.append(
                f"| `{lab}` | {len(ps)} | {p.min():.3f} | {p.median():.3f} | {p.max():.3f} | "
                f"{(p > 1 + 1e-3).float().mean():.0%} | {(p < 1 - 1e-3).float().mean():.0%} |"
            )
    if not out:
        return []
    return (
        [
            "Learned GeM exponents after the last epoch (all channels of all seeds' checkpoints):",
            "",
            "| pool | runs | min p | median p | max p | channels with p > 1.001 | with p < 0.999 |",
            "|---|---|---|---|---|---|---|",
        ]
        + out
        + [""]
    )


def ablation(cells, col: str, chosen: str, selected: str) -> list[str]:
    """The selected variant with each of its components removed in turn (pre-declared seeds)."""
    base_args = screen.VARIANTS[chosen]
    full = [r for r in cells.get((col, selected), []) if r["seed"] in screen.SEEDS]
    out = [
        f"Ablation of `{selected}` (one component removed; seeds {list(screen.SEEDS)} for every row):",
        "",
        "| removed | pool | val (best epoch) | best-epoch test | final-epoch test |",
        "|---|---|---|---|---|",
        f"| nothing | `{selected}` | {fmt(full, 'best_val')} | {fmt(full, 'best_test_acc')} | "
        f"{fmt(full, 'final_test_acc')} |",
    ]
    for comp in screen.active_components(base_args):
        lab = label({**base_args, **screen.COMPONENTS[comp]})
        rows = cells.get((col, lab), [])
        if col in screen.ONE_BY_ONE and comp in screen.IDENTITY_ON_1X1:
            out.append(f"| {comp} | `{lab}` | identical on a 1x1 map (not run) | | |")
        elif not rows:
            out.append(f"| {comp} | `{lab}` | not run (time) | | |")
        else:
            out.append(
                f"| {comp} | `{lab}` | {fmt(rows, 'best_val')} | "
                f"{fmt(rows, 'best_test_acc')} | {fmt(rows, 'final_test_acc')} |"
            )
    return out


def identity_check(cells, col: str) -> list[str]:
    """On a 1x1 map, max / mixed / softpool against avg at seed 0: the same function, the same numbers."""
    if col not in screen.ONE_BY_ONE:
        return []
    avg0 = {r["seed"]: r for r in cells.get((col, "avg"), [])}.get(0)
    checks = []
    for b in screen.SAME_AS_AVG_ON_1X1:
        r0 = {r["seed"]: r for r in cells.get((col, b), [])}.get(0)
        if r0 and avg0:
            same = all(r0[m] == avg0[m] for m, _ in METRICS)
            checks.append(
                f"`{b}` {r0['best_test_acc']:.2f} vs `avg` {avg0['best_test_acc']:.2f} "
                f"({'identical on every metric' if same else 'DIFFERENT'})"
            )
    return ["1x1 identity check at seed 0: " + "; ".join(checks) + ".", ""] if checks else []


def follow_up(cells, selected: str) -> list[str]:
    """The runs made after the screen, outside its declared selection."""
    fu = [(name, label(args)) for name, args in screen.FOLLOW_UP.items()]
    col = "resnet20-imagefolder"
    out = [
        "## Follow-up (after the screen; not part of the declared selection)",
        "",
        "| pool | val (best epoch) | best-epoch test | paired Δ test vs `avg` per seed |",
        "|---|---|---|---|",
    ]
    avg = {r["seed"]: r["best_test_acc"] for r in ok(cells.get((col, "avg"), []))}
    for name, lab in fu + [("selected", selected), ("avg", "avg")]:
        rows = [r for r in cells.get((col, lab), []) if r["seed"] in screen.SEEDS]
        diffs = ", ".join(
            f"s{r['seed']} {r['best_test_acc'] - avg[r['seed']]:+.2f}" for r in ok(rows) if r["seed"] in avg
        )
        out.append(f"| `{lab}` ({name}) | {fmt(rows, 'best_val')} | {fmt(rows, 'best_test_acc')} | {diffs} |")
    out.append("")
    return out


def main() -> int:
    cells = load()
    score = screen.select(HERE)
    if score is None:
        if "--partial" not in sys.argv:
            print("not every candidate run has ended: no selection yet (--partial shows the runs so far)")
            return 1
        score = {name: math.nan for name in screen.VARIANTS}  # progress view only: nothing selected
    chosen = max(score, key=score.get)
    selected = label(screen.VARIANTS[chosen])
    candidates = [label(a) for a in screen.VARIANTS.values()]
    protocols = sorted({r["protocol_label"] for rows in cells.values() for r in rows})
    commits = sorted(
        {
            str(r["git_commit"])[:7] + ("+dirty" if "dirty" in str(r["git_commit"]) else "")
            for rows in cells.values()
            for r in rows
        }
    )
    out = [
        "# Second CPU screen of gemgate — NON-STANDARD protocols",
        "",
        "Not the benchmark's 200-epoch protocol: 5 epochs on subsets, CPU, 1 thread per run (see screen.py).",
        "Numbers are not comparable to published ones.",
        "",
        "Protocols: " + "; ".join(f"`{p}`" for p in protocols) + ".",
        f"Optimiser as the benchmark (SGD lr 0.1, momentum 0.9, wd 5e-4, batch 128, cosine); commits {commits}.",
        "",
        "## Selection (validation accuracy only)",
        "",
        "Mean over columns of the mean over seeds 0–2 of each run's best validation accuracy:",
        "",
    ]
    out += [f"- `{label(screen.VARIANTS[n])}` ({n}): {v:.2f}" for n, v in score.items()]
    out += [
        "",
        f"**Selected for every column: `{selected}` ({chosen}).**"
        if not math.isnan(score[chosen])
        else "**PROGRESS VIEW (--partial): candidate runs still missing, nothing is selected; the first "
        "variant is shown in the selected row.**",
        "",
    ]
    columns = list(screen.COLUMNS)
    # one-glance table: best-epoch test accuracy per column
    pools = [selected] + [c for c in candidates if c != selected] + screen.BASELINES
    out += [
        "## Leaderboard at a glance (best-epoch test accuracy %, mean ± std (n))",
        "",
        "| pool | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for lab in pools:
        cols = [
            "= avg (the same function on a 1x1 map; seed 0 checked below)"
            if c in screen.ONE_BY_ONE and lab in screen.SAME_AS_AVG_ON_1X1
            else fmt(cells.get((c, lab), []), "best_test_acc")
            for c in columns
        ]
        out.append(f"| {'**' + lab + '** (selected)' if lab == selected else lab} | " + " | ".join(cols) + " |")
    out.append("")
    for col in columns:
        out += [f"## {col}", ""]
        out += leaderboard(cells, col, pools, selected)
        out += [
            "Selected minus the best baseline, all seeds run (seeds 3-4 were added after the screen for "
            "the headline cells: optional stopping):",
            "",
        ] + versus_best_baseline(cells, col, selected)
        first = {k: [r for r in v if r["seed"] in screen.SEEDS] for k, v in cells.items()}
        out += [f"The same on the pre-declared seeds {list(screen.SEEDS)} only:", ""]
        out += versus_best_baseline(first, col, selected)
        if col not in screen.ONE_BY_ONE:
            out += learned_exponents(cells, col)
        out += ablation(cells, col, chosen, selected)
        out.append("")
        out += identity_check(cells, col)
    out += follow_up(cells, selected)
    out += [
        "Provenance: each run's config.json / result.json (git commit, torch, device, wall time) and "
        "metrics.jsonl are in its run directory beside this file."
    ]
    return common.write_summary(HERE, out)


if __name__ == "__main__":
    sys.exit(main())
