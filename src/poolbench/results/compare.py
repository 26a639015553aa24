"""Compare two pools column by column: A minus B, with the statistics of ``stats.compare_groups``.

Only finished runs of the same protocol label are compared (a standard run is never compared
with a short CPU run); each (protocol, column) where both pools have runs is one comparison.
Diverged runs are counted per side (``n_diverged_a`` / ``_b``, with the rate's Wilson interval in
the text), never compared as accuracies. Every comparison also carries the smallest difference
its n can detect (``power.detectable_difference``: two-sided, alpha 0.05, power 0.8, normal
approximation, from the pooled sd of the two cells) and says when the difference it reports is
below it. ``compare_with_published`` compares a pool's standard-protocol runs with a published
source's baseline (``published.SOURCES``: the benchmark's three seeds or the third-party rerun)
in the benchmark's columns, unpaired.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from . import published as pub
from .divergence import COLLAPSE_RULE, DivergenceCount
from .metrics import METRIC_ALIASES, METRICS
from .power import POWER, detectable_difference, pooled_sd
from .stats import ALPHA, compare_groups
from .table import column_order

# Below this many seeds per side a bootstrap resamples so few distinct values that its interval
# comes out narrower than it should; the output says so.
FEW_SEEDS = 5


def _values(conn: sqlite3.Connection, pool: str, key: str, column: str | None):
    """(protocol, column) -> {"values", "seeds"} of finished runs with a value, and "diverged" (a count)."""
    sql = (
        f"SELECT protocol_label, column_key, seed, status, {key} AS v FROM runs "
        f"WHERE pool = ? AND (status = 'diverged' OR (status = 'finished' AND {key} IS NOT NULL))"
    )
    args = [pool]
    if column:
        sql += " AND column_key = ?"
        args.append(column)
    out: dict[tuple, dict[str, Any]] = {}
    for r in conn.execute(sql + " ORDER BY seed", args):
        g = out.setdefault((r["protocol_label"], r["column_key"]), {"values": [], "seeds": [], "diverged": 0})
        if r["status"] == "diverged":
            g["diverged"] += 1
        else:
            g["values"].append(r["v"])
            g["seeds"].append(r["seed"])
    return out


def with_power(res: dict[str, Any], a: list[float], b: list[float], diverged: tuple[int, int]) -> dict[str, Any]:
    """``res`` (``compare_groups``) plus the divergence counts and the smallest detectable difference."""
    res["n_diverged_a"], res["n_diverged_b"] = diverged
    sd, df = pooled_sd({"a": a, "b": b})
    res["pooled_sd"] = sd if df else None
    res["detectable"] = (
        detectable_difference(sd, res["n_a"], "unpaired", "normal", ALPHA, POWER, n_b=res["n_b"])
        if df and res["n_a"] and res["n_b"]
        else None
    )
    res["below_detectable"] = bool(res["detectable"] is not None and abs(res["mean_diff"]) < res["detectable"])
    return res


def compare_pools(
    conn: sqlite3.Connection, a: str, b: str, metric: str = "best", column: str | None = None
) -> list[dict[str, Any]]:
    """One dict per (protocol, column) where both pools have finished runs: the keys of
    ``compare_groups`` plus protocol_label, column, seeds_a, seeds_b. Raises ValueError for an
    unknown pool label or column (the message lists the known ones)."""
    metric = METRIC_ALIASES.get(metric, metric)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    pools = [r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs ORDER BY pool")]
    for p in (a, b):
        if p not in pools:
            raise ValueError(f"no runs of pool {p!r}; pools with runs: {', '.join(pools) or '(none)'}")
    columns = [r[0] for r in conn.execute("SELECT DISTINCT column_key FROM runs ORDER BY column_key")]
    if column and column not in columns:
        raise ValueError(f"no runs in column {column!r}; columns: {', '.join(columns)}")
    key = METRICS[metric][0]
    va, vb = _values(conn, a, key, column), _values(conn, b, key, column)
    out = []
    both = set(va) & set(vb)
    order = column_order({col for _, col in both})
    # standard protocol first, then the others by label; columns in the benchmark's order
    for group in sorted(both, key=lambda g: (g[0] != "standard", g[0], order.index(g[1]))):
        ga, gb = va[group], vb[group]
        if not ga["values"] or not gb["values"]:
            continue  # one side only diverged: nothing to compare
        res = compare_groups(ga["values"], gb["values"], paired_seeds=(ga["seeds"], gb["seeds"]))
        res = with_power(res, ga["values"], gb["values"], (ga["diverged"], gb["diverged"]))
        out.append(
            {"protocol_label": group[0], "column": group[1], "seeds_a": ga["seeds"], "seeds_b": gb["seeds"], **res}
        )
    return out


def compare_with_published(
    conn: sqlite3.Connection, a: str, published: str, column: str | None = None, source: str = "benchmark"
) -> dict[str, Any]:
    """Pool ``a``'s standard-protocol runs minus a published baseline's runs, per column of the
    published ``source`` (``published.SOURCES``).

    Returns {"published": its benchmark name, "source": the source key, "comparisons": [one dict
    per column where ``a`` has standard runs: the keys of ``compare_groups`` + column, seeds_a,
    seeds_b, divergence counts, detectable, verdict], "skipped": [(column or protocol, why)]}.
    Unpaired only: a published seed number is not our seed (another code base draws another
    initialisation from it). The published side's collapses count as diverged. ValueError for an
    unknown pool, source or column.
    """
    theirs = pub.resolve_pool(published)
    src = pub.get_source(source)
    if column and column not in src.columns:
        raise ValueError(f"{src.title} have no column {column!r}; they have {', '.join(src.columns)}")
    pools = [r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs ORDER BY pool")]
    if a not in pools:
        raise ValueError(f"no runs of pool {a!r}; pools with runs: {', '.join(pools) or '(none)'}")
    ours = _values(conn, a, METRICS["best"][0], column)
    out: dict[str, Any] = {"published": theirs, "source": source, "comparisons": [], "skipped": []}
    published_cells = pub.cells(source)
    for label, col in sorted(g for g in ours if g[0] != "standard" or g[1] not in src.columns):
        why = (
            f"not a column of {src.title}"
            if label == "standard"
            else f"protocol {label}: the published runs are standard-protocol, never compared with these"
        )
        out["skipped"].append((f"{col} [{label}]", why))
    for col in [column] if column else src.columns:
        group = ours.get(("standard", col))
        if group is None or not group["values"]:
            out["skipped"].append((col, f"no finished standard-protocol runs of {a}"))
            continue
        cell = published_cells[(theirs, col)]
        seeds_b = sorted(cell.finished)
        b_values = [cell.finished[s] for s in seeds_b]
        res = compare_groups(group["values"], b_values)  # unpaired, see above
        res = with_power(res, group["values"], b_values, (group["diverged"], len(cell.diverged_seeds)))
        res["paired_reason"] = (
            "not paired: the published runs come from another code base, so a shared "
            "seed number is not a shared initialisation"
        )
        out["comparisons"].append(
            {
                "protocol_label": "standard",
                "column": col,
                "seeds_a": group["seeds"],
                "seeds_b": seeds_b,
                **res,
                "verdict": verdict(res),
            }
        )
    return out


def verdict(r: dict[str, Any]) -> str:
    """One plain sentence: can these seeds tell the two apart, and what may be concluded."""
    text = _verdict(r)
    if r.get("below_detectable"):
        text += (
            f"; the difference ({r['mean_diff']:+.2f}) is below the {r['detectable']:.2f} points "
            f"n={r['n_a']} vs {r['n_b']} can detect"
        )
    return text


def _verdict(r: dict[str, Any]) -> str:
    na, nb = r["n_a"], r["n_b"]
    if r["welch_p"] is None:
        return f"cannot conclude: n={na} vs n={nb} is too small for any test (at least 2 seeds a side); run more seeds"
    if r["welch_p"] < ALPHA:
        side = "higher" if r["mean_diff"] > 0 else "lower"
        few = f" (only {min(na, nb)} seeds on a side: a rough result)" if min(na, nb) < FEW_SEEDS else ""
        return f"A is {side} (Welch p < {ALPHA}){few}"
    return (
        f"no difference detected at n={na} vs n={nb} (Welch p >= {ALPHA}); with this few seeds that is "
        f"not evidence that they are equal — only a large difference could have shown"
    )


def render_published_comparison(res: dict[str, Any], a: str) -> str:
    """Text for ``compare_with_published``: the blocks of ``render_comparison`` plus a verdict each."""
    b = f"published {res['published']}"
    src = pub.get_source(res.get("source", "benchmark"))
    text = render_comparison(res["comparisons"], a, b, "best")
    text = text.replace(
        "no column has finished runs of both pools under the same protocol",
        f"{a} has no finished standard-protocol runs in the published columns",
    )
    lines = text.rstrip("\n").split("\n")
    lines.insert(
        1,
        f"published: {src.title} ({src.citation}); seeds {', '.join(map(str, src.seeds))}; unpaired; {COLLAPSE_RULE}",
    )
    for skipped, why in res["skipped"]:
        lines.append(f"not compared: {skipped}: {why}")
    return "\n".join(lines) + "\n"


def _p(p: float | None) -> str:
    return "n/a" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _ms(mean: float, std: float, n: int, diverged: int = 0) -> str:
    more = f"; {DivergenceCount(n, diverged).text()} ⚠" if diverged else ""
    return f"{mean:.2f} (n=1{more})†" if n == 1 else f"{mean:.2f} ± {std:.2f} (n={n}{more})"


def detectable_text(r: dict[str, Any]) -> str | None:
    """The sentence on what this comparison's n can detect, or None without a spread."""
    if r.get("detectable") is None:
        return None
    where = "below" if r["below_detectable"] else "above"
    text = (
        f"detectable at n={r['n_a']} vs {r['n_b']} (two-sided, alpha {ALPHA}, power {POWER}, normal "
        f"approximation, pooled sd {r['pooled_sd']:.2f}): {r['detectable']:.2f} points; the difference "
        f"{r['mean_diff']:+.2f} is {where} it"
    )
    if r["below_detectable"]:
        text += " — these seeds cannot detect a difference this small (poolbench plan says how many could)"
    return text


def render_comparison(results: list[dict[str, Any]], a: str, b: str, metric: str = "best") -> str:
    """Human-readable text, one block per (protocol, column)."""
    lines = [
        f"{a} vs {b}: {METRICS[metric][1]} (--metric {metric}) over finished runs, differences are {a} minus {b}; "
        f"diverged runs are counted, never compared"
    ]
    if not results:
        lines.append("no column has finished runs of both pools under the same protocol")
    for r in results:
        lines += [
            "",
            f"{r['column']}  [protocol: {r['protocol_label']}]",
            f"  {a}: {_ms(r['mean_a'], r['std_a'], r['n_a'], r.get('n_diverged_a', 0))}    "
            f"{b}: {_ms(r['mean_b'], r['std_b'], r['n_b'], r.get('n_diverged_b', 0))}",
        ]
        ci = (
            f"[{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}] ({r['ci_method']})" if r["ci95"] else f"n/a ({r['ci_reason']})"
        )
        lines.append(f"  mean difference {r['mean_diff']:+.2f}, 95% CI {ci}")
        if r["ci95"] and min(r["n_a"], r["n_b"]) < FEW_SEEDS:
            lines.append(
                f"  (fewer than {FEW_SEEDS} seeds a side: a bootstrap interval is too narrow; trust the t-tests more)"
            )
        lines.append(
            f"  Welch's t-test p = {_p(r['welch_p'])}" + (f" ({r['welch_reason']})" if r["welch_reason"] else "")
        )
        pr = r["paired"]
        if pr:
            lines.append(
                f"  paired over seeds {', '.join(map(str, pr['seeds']))} (n={pr['n_pairs']}): "
                f"mean difference {pr['mean_diff']:+.2f}, paired t p = {_p(pr['t_p'])}, "
                f"Wilcoxon p = {_p(pr['wilcoxon_p'])}"
            )
        else:
            lines.append(f"  paired: n/a ({r['paired_reason']})")
        if detectable_text(r):
            lines.append(f"  {detectable_text(r)}")
        if r.get("verdict"):
            lines.append(f"  verdict: {r['verdict']}")
    return "\n".join(lines) + "\n"


def comparison_json(
    results: list[dict[str, Any]], a: str, b: str, metric: str, skipped: list[tuple] | None = None
) -> str:
    def clean(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    rows = [{k: clean(v) for k, v in r.items()} for r in results]
    doc = {"a": a, "b": b, "metric": metric, "difference": "a - b", "comparisons": rows}
    if skipped is not None:
        doc["skipped"] = [{"what": w, "why": why} for w, why in skipped]
    return json.dumps(doc, indent=2, default=list) + "\n"


# ----------------------------------------------------------------------------- one pool vs baselines
#: the benchmark's baselines (its avg_max is our avgmax, global_max our max), in report order
BASELINES = ("avg", "max", "gem", "avgmax")


def resolve_pool(conn: sqlite3.Connection, name: str) -> str:
    """A pool label as in the table, or a unique prefix of one (``custom_pool.py`` and ``custom``
    find ``custom_pool.py:CustomPool@3f2a``). A prefix that ends where a label's name ends (``gem``
    for ``gem(p=2)``, ``custom_pool.py`` for its file's label) is tried before any prefix, so ``gem``
    is not ambiguous beside ``gemgate``. ValueError listing the candidates otherwise."""
    pools = [r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs ORDER BY pool")]
    if name in pools:
        return name
    whole = [p for p in pools if p.startswith(name + ":") or p.startswith(name + "@") or p.startswith(name + "(")]
    for hits in (whole, [p for p in pools if p.startswith(name)]):
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValueError(
                f"{name!r} matches {len(hits)} pools: {', '.join(hits)}; give one label as the table shows it"
            )
    raise ValueError(f"no runs of pool {name!r}; pools with runs: {', '.join(pools) or '(none)'}")


def compare_against(
    conn: sqlite3.Connection, a: str, against: list[str] | None = None, metric: str = "best", column: str | None = None
) -> list[dict[str, Any]]:
    """``compare_pools(a, b)`` for every baseline b (default: each of ``BASELINES`` with runs), one
    dict per (protocol, column, baseline) with the key ``baseline`` added."""
    pools = {r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs")}
    a = resolve_pool(conn, a)
    if against is None:
        against = [b for b in BASELINES if b in pools and b != a]
    out = []
    for b in against:
        out += [dict(r, baseline=b) for r in compare_pools(conn, a, resolve_pool(conn, b), metric, column)]
    order = column_order({r["column"] for r in out})
    rank = {b: i for i, b in enumerate(against)}
    out.sort(
        key=lambda r: (
            r["protocol_label"] != "standard",
            r["protocol_label"],
            order.index(r["column"]),
            rank[r["baseline"]],
        )
    )
    return out


def against_sentence(a: str, r: dict[str, Any]) -> str:
    """One plain sentence on a ``compare_against`` row: the difference, then ``verdict`` (A = ``a``)."""
    return f"{a} minus {r['baseline']}: {r['mean_diff']:+.2f} points (n={r['n_a']} vs {r['n_b']}); {verdict(r)}"


def against_rows(results: list[dict[str, Any]], a: str) -> list[dict[str, str]]:
    """Display rows (strings) for text, Markdown and HTML: one per comparison."""
    rows = []
    for r in results:
        ci = f"[{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]" if r["ci95"] else "n/a"
        rows.append(
            {
                "column": r["column"],
                "protocol": r["protocol_label"],
                "baseline": r["baseline"],
                "difference": f"{r['mean_diff']:+.2f}",
                "95% CI": ci,
                "p (Welch)": _p(r["welch_p"]),
                "n": f"{r['n_a']} vs {r['n_b']}",
                "diverged": f"{r.get('n_diverged_a', 0)} vs {r.get('n_diverged_b', 0)}",
                "detectable": "n/a" if r.get("detectable") is None else f"{r['detectable']:.2f}",
                "verdict": against_sentence(a, r),
            }
        )
    return rows


def render_against(results: list[dict[str, Any]], a: str, metric: str = "best") -> str:
    """A table per protocol: one row per (column, baseline), then the sentence of each row."""
    lines = [
        f"{a} vs every baseline: {METRICS[metric][1]} (--metric {metric}) over finished runs, differences are "
        f"{a} minus the baseline"
    ]
    if not results:
        return "\n".join(lines + ["no baseline shares a column and a protocol with this pool's finished runs"]) + "\n"
    rows = against_rows(results, a)
    cols = ["column", "baseline", "difference", "95% CI", "p (Welch)", "n", "diverged", "detectable"]
    for label in dict.fromkeys(r["protocol"] for r in rows):
        group = [r for r in rows if r["protocol"] == label]
        width = {c: max(len(c), *(len(r[c]) for r in group)) for c in cols}
        lines += [
            "",
            f"protocol: {label}",
            "  ".join(c.ljust(width[c]) for c in cols),
            "  ".join("-" * width[c] for c in cols),
        ]
        lines += ["  ".join(r[c].ljust(width[c]) for c in cols).rstrip() for r in group]
        lines += [""] + [f"- {r['column']}: {r['verdict']}" for r in group]
    lines += [
        "",
        "95% CI: bootstrap (BCa) of the difference of means; p: Welch's two-sided t-test; "
        "n: finished seeds of each side (`poolbench compare A B` shows the paired tests); diverged: runs of each "
        "side that diverged (never compared); detectable: the smallest difference these n detect (two-sided, "
        f"alpha {ALPHA}, power {POWER}, normal approximation, pooled sd of the two cells).",
    ]
    if any(min(r["n_a"], r["n_b"]) < FEW_SEEDS for r in results):
        lines.append(
            f"Fewer than {FEW_SEEDS} seeds a side: a bootstrap interval is too narrow; the sentences follow the t-test."
        )
    return "\n".join(lines) + "\n"


def against_all(conn: sqlite3.Connection, metric: str = "best") -> dict[str, list[dict[str, Any]]]:
    """For the report: every pool that is not a baseline -> its comparisons with the baselines."""
    pools = [r[0] for r in conn.execute("SELECT DISTINCT pool FROM runs WHERE status = 'finished' ORDER BY pool")]
    out = {}
    for a in pools:
        if a not in BASELINES:
            res = compare_against(conn, a, metric=metric)
            if res:
                out[a] = res
    return out
