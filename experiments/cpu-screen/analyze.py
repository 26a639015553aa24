"""Summarise the CPU screen (NON-STANDARD protocol) into experiments/cpu-screen/summary.md.

Reads only the run directories in experiments/cpu-screen/ (finished runs).

Selection rule (fixed before the test numbers were read): ONE gemgate configuration for every
column (the issue asks for one module), the a-priori variant (screen.VARIANTS) with the highest
validation accuracy averaged over the columns (per column: mean over seeds of each run's best
validation accuracy). Never test accuracy. Per column:
- every pool's test accuracy: best epoch (the benchmark's metric), final epoch, and at the epoch
  of best validation accuracy, as mean +- std (n);
- the difference selected-gemgate minus the best baseline (highest mean on that metric), with the
  95% bootstrap CI, Welch p and the paired (same-seed) difference from
  ``poolbench.results.stats.compare_groups``;
- the ablation: each component removed from the full pool, on validation and test accuracy.

    .venv/bin/python experiments/cpu-screen/analyze.py            # writes summary.md, prints it
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402  (what the screens' analyses share)
from common import METRICS, label, load_cells, mean_std, welch_ci  # noqa: E402

from poolbench.results.stats import compare_groups, summarize  # noqa: E402

screen = common.import_screen(HERE)  # the protocol and the variant/ablation definitions
BASELINES = screen.BASELINES


def load() -> common.Cells:
    """{(column, pool label): [run rows with 'best_val' added]} for finished runs."""
    return load_cells(HERE, lambda run_dir: common.read_ended(run_dir, ("finished",), no_val=None))


def fmt_ci(c: dict, a: list[float], b: list[float]) -> str:
    ci = f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]" if c["ci95"] else f"n/a ({c['ci_reason']})"
    ci += f" (bootstrap; too narrow with n≤3 a side), Welch-t 95% CI {welch_ci(a, b)}"
    p = f"{c['welch_p']:.3f}" if c["welch_p"] is not None else "n/a"
    pair = c.get("paired")
    pr = (
        f"paired Δ {pair['mean_diff']:+.2f} over seeds {pair['seeds']}, t-test p {pair['t_p']:.3f}"
        if pair and pair["t_p"] is not None
        else (f"paired Δ {pair['mean_diff']:+.2f} over seeds {pair['seeds']}" if pair else "paired: n/a")
    )
    return f"Δ {c['mean_diff']:+.2f}, 95% CI {ci}, Welch p {p}; {pr}"


def best_val(cells, col: str, lab: str):
    vals = [r["best_val"] for r in cells.get((col, lab), [])]
    return summarize(vals)[0] if vals else None


def column_section(cells, col: str, variants: dict[str, str], chosen: str) -> list[str]:
    """One column: the variants' validation accuracy, the leaderboard, selected minus the best
    baseline per metric, and the ablation."""
    chosen_label = variants[chosen]
    out = [f"## {col}", ""]
    # 1. the selection (one configuration for all columns, see the module docstring)
    out += ["Validation accuracy of the a-priori variants (best epoch; mean over seeds):", ""]
    for name, lab in variants.items():
        vals = [r["best_val"] for r in cells.get((col, lab), [])]
        out.append(f"- `{lab}` ({name}): val {mean_std(vals)}")
    out += ["", f"Selected for every column: `{chosen_label}` ({chosen}).", ""]
    # 2. leaderboard
    pools = [chosen_label] + [v for k, v in variants.items() if k != chosen] + BASELINES
    out += [
        "| pool | val (best) | " + " | ".join(t for _, t in METRICS) + " | seeds |",
        "|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for lab in pools:
        rows = cells.get((col, lab), [])
        if not rows:
            continue
        seeds = sorted(r["seed"] for r in rows)
        name = f"**{lab}** (selected)" if lab == chosen_label else f"`{lab}`"
        out.append(
            f"| {name} | {mean_std([r['best_val'] for r in rows])} | "
            + " | ".join(mean_std([r[m] for r in rows if r[m] is not None]) for m, _ in METRICS)
            + f" | {seeds} |"
        )
    out.append("")
    # 3. difference to the best baseline, per metric
    out += ["Selected gemgate minus the best baseline (highest mean on that metric):", ""]
    sel_rows = cells.get((col, chosen_label), [])
    for m, title in METRICS:
        base = {b: cells[(col, b)] for b in BASELINES if cells.get((col, b))}
        if not base or not sel_rows:
            continue
        best = max(base, key=lambda b: summarize([r[m] for r in base[b]])[0])
        a = [r[m] for r in sel_rows]
        b = [r[m] for r in base[best]]
        c = compare_groups(a, b, paired_seeds=([r["seed"] for r in sel_rows], [r["seed"] for r in base[best]]))
        c_fmt = fmt_ci(c, a, b)
        wins = all(summarize(a)[0] > summarize([r[m] for r in base[x]])[0] for x in base)
        out.append(
            f"- {title}: best baseline `{best}`; {c_fmt}; higher mean than every baseline: {'yes' if wins else 'no'}"
        )
    out.append("")
    # 4. ablation (each component removed from the full pool)
    full = label("gemgate", screen.VARIANTS["reg"])
    out += [
        f"Ablation of the full pool `{full}` (one component removed):",
        "",
        "| variant | val (best) | best-epoch test | final-epoch test |",
        "|---|---|---|---|",
    ]
    abl = [("full", full), ("-drop -pos_drop (= plain)", variants["plain"])]
    abl += [(n, label("gemgate", a)) for n, a in screen.ABLATIONS.items()]
    for name, lab in abl:
        rows = cells.get((col, lab), [])
        if col.startswith("mobilenetv2") and name in screen.IDENTITY_ON_1X1:
            out.append(f"| {name} | identical to full on a 1x1 map (not run) | | |")
            continue
        if col.startswith("mobilenetv2") and name in getattr(screen, "SAME_AS_PLAIN_ON_1X1", ()):
            out.append(f"| {name} | same function as plain on a 1x1 map (not run) | | |")
            continue
        if not rows:
            out.append(f"| {name} | not run (time) | | |")
            continue
        out.append(
            f"| {name} `{lab}` | {mean_std([r['best_val'] for r in rows])} | "
            f"{mean_std([r['best_test_acc'] for r in rows])} | {mean_std([r['final_test_acc'] for r in rows])} |"
        )
    out.append("")
    return out


def main() -> int:
    cells = load()
    columns = sorted({c for c, _ in cells})
    protocols = sorted({r["protocol_label"] for rows in cells.values() for r in rows})
    out: list[str] = [
        "# CPU screen of gemgate — NON-STANDARD protocol",
        "",
        f"Protocol: {'; '.join(protocols)} (see screen.py). Device: CPU, 1 thread, shared machine.",
        "Not the benchmark's 200-epoch protocol; numbers are not comparable to published ones.",
        "",
    ]
    variants = {name: label("gemgate", args) for name, args in screen.VARIANTS.items()}
    score = {}
    for name, lab in variants.items():
        per_col = [best_val(cells, col, lab) for col in columns]
        if per_col and all(v is not None for v in per_col):
            score[name] = sum(per_col) / len(per_col)
    if not score:
        print("no finished gemgate runs in every column yet")
        return 1
    chosen = max(score, key=score.get)
    chosen_label = variants[chosen]
    out += [
        "## Selection",
        "",
        "One configuration for all columns: the a-priori variant with the highest validation accuracy "
        "averaged over the columns (rule fixed before reading test numbers):",
        "",
    ]
    out += [f"- `{variants[n]}` ({n}): mean over columns of val {v:.2f}" for n, v in score.items()]
    out += ["", f"**Selected: `{chosen_label}` ({chosen}).**", ""]
    # post hoc, clearly labelled: which gemgate configuration would validation pick among all that ran?
    all_gg = sorted({lab for (c, lab) in cells if lab.startswith("gemgate")})
    post = {lab: [best_val(cells, col, lab) for col in columns] for lab in all_gg}
    post = {lab: sum(v) / len(v) for lab, v in post.items() if all(x is not None for x in v)}
    if post:
        top = max(post, key=post.get)
        out += [
            f"Post hoc, NOT the rule (it looks at the ablation runs too): among every gemgate "
            f"configuration run in both columns, the highest mean validation accuracy over columns "
            f"is `{top}` ({post[top]:.2f}).",
            "",
        ]
    for col in columns:
        out += column_section(cells, col, variants, chosen)
    out += [
        "Provenance: every run's config.json / result.json (git commit, torch, device, wall time) is in "
        "its run directory beside this file."
    ]
    return common.write_summary(HERE, out)


if __name__ == "__main__":
    sys.exit(main())
