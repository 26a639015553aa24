"""``poolbench plan``: how many seeds a claim in one column needs, from that column's measured spread.

The spread comes from the published runs (``published.SOURCES``: the benchmark's three seeds, or
the third-party rerun), from the user's own finished runs (the index, one protocol), or from both
pooled (``power.combine``); the output says which, lists every pool's sd and n, and names the
method (``power.METHOD_TEXT``). Diverged runs are left out of the spread (they are a rate, not an
accuracy: ``divergence``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from . import published as pub
from .metrics import METRICS
from .power import ALPHA, METHOD_TEXT, POWER, Spread, combine, detectable_difference, measure_spread, seeds_needed

SPREAD_SOURCES = ("published", "runs", "both")
DEFAULT_SEEDS = (2, 3, 5, 10, 20)


def published_spread(column: str, source: str = "benchmark", pools: Sequence[str] | None = None) -> Spread:
    """The spread of a published source in one of our columns (its names or ours for ``pools``)."""
    src = pub.get_source(source)
    cells = {pool: c for (pool, col), c in pub.cells(source).items() if col == column}
    if not cells:
        raise ValueError(f"{src.title} have no column {column!r}; they have {', '.join(src.columns)}")
    if pools:
        wanted = [pub.resolve_pool(p) for p in pools]
        cells = {p: cells[p] for p in wanted if p in cells}
    diverged = sum(len(c.diverged_seeds) for c in cells.values())
    where = f"{src.title}: {src.citation}; seeds {', '.join(map(str, src.seeds))}"
    if diverged:
        where += f"; {diverged} collapsed run(s) left out"
    # one code base ran them all, so a seed number is one initialisation across its pools
    return measure_spread(column, {p: c.finished for p, c in cells.items()}, f"published {source} ({where})")


def runs_spread(
    conn: sqlite3.Connection,
    column: str,
    metric: str = "best",
    protocol: str | None = None,
    pools: Sequence[str] | None = None,
) -> Spread:
    """The spread of the index's finished runs in one column and protocol (default: standard if
    it has runs there, else the only protocol that has); ValueError naming what exists."""
    key = METRICS[metric][0]
    rows = conn.execute(
        f"SELECT pool, seed, protocol_label, {key} AS v FROM runs WHERE column_key = ? AND status = 'finished' "
        f"AND {key} IS NOT NULL ORDER BY pool, seed",
        (column,),
    ).fetchall()
    if not rows:
        columns = [r[0] for r in conn.execute("SELECT DISTINCT column_key FROM runs ORDER BY column_key")]
        raise ValueError(
            f"no finished runs with a {metric} accuracy in column {column!r}; columns with runs: "
            f"{', '.join(columns) or '(none)'}"
        )
    labels = sorted({r["protocol_label"] for r in rows})
    if protocol is None:
        if "standard" in labels or len(labels) == 1:
            protocol = "standard" if "standard" in labels else labels[0]
        else:
            raise ValueError(
                f"column {column!r} has runs under {len(labels)} protocols; pick one with --protocol: "
                + "; ".join(labels)
            )
    elif protocol not in labels:
        raise ValueError(f"no finished runs of protocol {protocol!r} in {column!r}; protocols: {'; '.join(labels)}")
    by_pool: dict[str, dict[int, float]] = {}
    for r in rows:
        if r["protocol_label"] == protocol and (not pools or r["pool"] in pools):
            by_pool.setdefault(r["pool"], {})[r["seed"]] = float(r["v"])
    return measure_spread(column, by_pool, f"your runs (protocol: {protocol}; {METRICS[metric][1]})")


def plan_rows(spread: Spread, seeds: Sequence[int], alpha: float = ALPHA, power: float = POWER) -> list[dict[str, Any]]:
    """Per n: the smallest detectable difference, unpaired and paired, normal and t."""
    out = []
    for n in seeds:
        row: dict[str, Any] = {"n": n}
        for method in ("normal", "t"):
            row[f"unpaired_{method}"] = detectable_difference(spread.sd, n, "unpaired", method, alpha, power)
            row[f"paired_{method}"] = (
                detectable_difference(spread.sd_diff, n, "paired", method, alpha, power)
                if spread.sd_diff is not None
                else None
            )
        out.append(row)
    return out


def needed(spread: Spread, difference: float, alpha: float = ALPHA, power: float = POWER) -> dict[str, int | None]:
    """Seeds a ``difference`` needs, per design and method (None: no paired spread, or beyond the limit)."""
    out: dict[str, int | None] = {}
    for method in ("normal", "t"):
        out[f"unpaired_{method}"] = seeds_needed(difference, spread.sd, "unpaired", method, alpha, power)
        out[f"paired_{method}"] = (
            seeds_needed(difference, spread.sd_diff, "paired", method, alpha, power) if spread.sd_diff else None
        )
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def render_plan(
    spread: Spread,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    difference: float | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
) -> str:
    """The plan as text: where the spread comes from, each pool's sd, the method, a row per n."""
    lines = [f"Seed planning for {spread.column}", f"spread: {spread.source}"]
    for pool, (sd, n) in spread.per_pool.items():
        lines.append(f"  {pool}: sd {_num(sd)} (n={n} finished)")
    if spread.left_out:
        lines.append(f"  left out of the sd (fewer than 2 finished runs): {', '.join(spread.left_out)}")
    if spread.df:
        lines.append(
            f"  pooled within-pool sd {spread.sd:.3f} ({spread.df} df: each pool's deviations from its own mean)"
        )
    elif math.isfinite(spread.sd):
        lines.append(f"  sd {spread.sd:.3f}")
    else:
        lines.append("  no pool has 2 finished runs: no spread to plan with")
    if spread.sd_diff is not None:
        lines.append(
            f"  paired: sd of the per-seed differences {spread.sd_diff:.3f} "
            f"({spread.df_diff} df; {'; '.join(spread.pairs)})"
        )
    else:
        lines.append("  paired: no two pools share 2 seeds in one code base: no paired spread")
    if not math.isfinite(spread.sd):
        return "\n".join(lines) + "\n"
    lines += [
        f"method: two-sided test, alpha {alpha}, power {power}; normal: {METHOD_TEXT['normal']}; t: {METHOD_TEXT['t']}",
        "",
        "smallest difference detectable (accuracy points) with n seeds per pool (unpaired) "
        "or n matching seeds (paired)",
    ]
    header = ["n", "unpaired normal", "unpaired t-test", "paired normal", "paired t-test"]
    rows = [
        [str(r["n"])] + [_num(r[k]) for k in ("unpaired_normal", "unpaired_t", "paired_normal", "paired_t")]
        for r in plan_rows(spread, seeds, alpha, power)
    ]
    width = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, width, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    if difference is not None:
        need = needed(spread, difference, alpha, power)
        parts = [
            f"{k.replace('_', ' ').replace(' t', ' t-test')}: {v if v is not None else 'n/a'}" for k, v in need.items()
        ]
        lines += ["", f"seeds needed to detect {difference:g} points: " + "; ".join(parts)]
    return "\n".join(lines) + "\n"


def spread_for(
    column: str,
    spread_from: str,
    published_source: str = "benchmark",
    conn: sqlite3.Connection | None = None,
    metric: str = "best",
    protocol: str | None = None,
    pools: Sequence[str] | None = None,
) -> Spread:
    """The spread ``poolbench plan`` uses: ``published``, ``runs`` or ``both`` (pooled)."""
    if spread_from not in SPREAD_SOURCES:
        raise ValueError(f"unknown spread source {spread_from!r}; choose one of {', '.join(SPREAD_SOURCES)}")
    parts = []
    if spread_from in ("published", "both"):
        if metric != "best":
            raise ValueError(f"the published runs are best-epoch accuracies; --metric {metric} needs --spread runs")
        parts.append(published_spread(column, published_source, pools))
    if spread_from in ("runs", "both"):
        if conn is None:
            raise ValueError("no runs directory to measure your runs' spread in")
        parts.append(runs_spread(conn, column, metric, protocol, pools))
    return parts[0] if len(parts) == 1 else combine(parts)
