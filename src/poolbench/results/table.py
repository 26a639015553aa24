"""The benchmark's leaderboard: rows pools, columns model-dataset, mean ± std (n) over seeds.

Runs are grouped by protocol label first: every protocol is its own section, so standard and
non-standard runs never meet in one cell, and a non-standard section is headed by its label.
In each column the pool with the best mean is marked, and ▲ says it beats the runner-up with
95% confidence (Welch, see ``stats.best_vs_runner_up``). No pool is starred on a tie (the best
means equal at the printed precision: the cells say "tie") or over a pool that is the same
function on the column's 1x1 map (``same_function``, decided per pool). Accuracy statistics use
finished runs only; diverged runs are a rate with its Wilson interval (``divergence``), shown per
cell, and a cell with any diverged run is marked ⚠. Failed and unfinished runs are counted beside
the cell, never averaged in.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import published as pub
from .divergence import COLLAPSE_RULE, INTERVAL_METHOD, DivergenceCount
from .index import build_index
from .metrics import FORMATS, METRIC_ALIASES, METRICS, VAL_UNAVAILABLE
from .safe_text import csv_cell, markdown, plain
from .same_function import PoolInColumn, same_function_pools
from .stats import best_vs_runner_up, summarize

BEST, BEATS, ONE_SEED, SAME, TIE, DIVERGED = "*", "▲", "†", "≡", "tie", "⚠"
POOLBENCH_COLUMN = "[poolbench]"  # after a column whose model is poolbench's (suites.poolbench_models)
#: means equal at this many decimals (the printed precision) are a tie
TIE_DECIMALS = 2
LEGEND = (
    f"{BEST} best mean in its column (of 2+ pools); {BEATS} the best beats the runner-up "
    f"(Welch two-sided p<0.05); {TIE}: the best means are equal to {TIE_DECIMALS} decimals, none is "
    f"starred; {ONE_SEED} one seed, no std; n = finished runs averaged; {DIVERGED} a cell with a "
    f"diverged run (diverged runs are never averaged: see the divergence table); {SAME} after a pool's "
    f"number: on this 1x1-map column the pool is the same function as the other {SAME} pools (the "
    f"identity up to what the classifier absorbs, probed when the run started, `poolbench check`): "
    f"differences among them are run-to-run noise, none is starred over another; {SAME} after a "
    f"column name: every pool there is; {POOLBENCH_COLUMN} after a column name: poolbench's own column "
    f"(a model of the spatial suite), not the benchmark's, never compared with its published numbers"
)


@dataclass
class Cell:
    pool: str
    column: str
    values: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    # runs that gave no value: {"diverged": 1, "unfinished": 2, "without value": 1, ...}
    other: dict[str, int] = field(default_factory=dict)
    mean: float = math.nan
    std: float = math.nan
    n: int = 0
    best: bool = False
    beats_runner_up: bool = False
    p_vs_runner_up: float | None = None
    tie: bool = False  # one of the best means, equal at the printed precision
    same_function: str | None = None  # its 1x1 relation where it is one function with other pools

    @property
    def divergence(self) -> DivergenceCount:
        """Finished runs (with or without this metric) and diverged runs of the cell."""
        return DivergenceCount(self.n + self.other.get("without value", 0), self.other.get("diverged", 0))

    def text(self, best_mark: tuple[str, str] = ("", f" {BEST}")) -> str:
        """'71.06 ± 0.21 (n=3)', '72.10 (n=1)†', '— (1 diverged) ⚠'; ``best_mark`` wraps the number."""
        notes = "; ".join(f"{v} {k}" for k, v in sorted(self.other.items()))
        warn = f" {DIVERGED}" if self.other.get("diverged") else ""
        if self.n == 0:
            return f"— ({notes}){warn}" if notes else ""
        num = f"{self.mean:.2f}" if self.n == 1 else f"{self.mean:.2f} ± {self.std:.2f}"
        if self.best:
            num = best_mark[0] + num + best_mark[1] + (BEATS if self.beats_runner_up else "")
        if self.tie:
            num += f" {TIE}"
        if self.same_function:
            num += f" {SAME}"
        s = f"{num} (n={self.n}{'; ' + notes if notes else ''})"
        return (s + ONE_SEED if self.n == 1 else s) + warn


@dataclass
class Section:
    """All runs of one protocol label."""

    protocol_label: str
    standard: bool
    columns: list[str]
    pools: list[str]
    cells: dict[tuple[str, str], Cell]
    verdicts: dict[str, dict[str, Any]]  # column -> stats.best_vs_runner_up(...)
    # column -> why every pool there is the same function (1x1 maps; ``same_function``)
    same_function: dict[str, str] = field(default_factory=dict)
    # column -> {pool: its 1x1 relation} for the pools that are one function there (2+ per column)
    same_pools: dict[str, dict[str, str]] = field(default_factory=dict)

    def header(self) -> list[str]:
        return ["pool"] + [column_heading(c, c in self.same_function) for c in self.columns]

    def title(self) -> str:
        if self.standard:
            return "Protocol: standard"
        return f"Protocol: {self.protocol_label} — not comparable with the published benchmark"


@dataclass
class Leaderboard:
    metric: str
    sections: list[Section]
    unavailable: str | None = None  # why this metric has no section at all (no --val-split run)

    @property
    def metric_title(self) -> str:
        return METRICS[self.metric][1]


def column_heading(column: str, same_function: bool = False) -> str:
    """A column's name as tables print it: ``≡`` where every pool is one function there, and
    ``[poolbench]`` where the model is poolbench's own (``model-data``; model names have no '-')."""
    from ..suites import poolbench_models

    marks = ([SAME] if same_function else []) + (
        [POOLBENCH_COLUMN] if column.split("-")[0] in poolbench_models() else []
    )
    return " ".join([column, *marks])


def column_order(cols) -> list[str]:
    """The benchmark's published columns first, in its order, then the rest alphabetically."""
    known = [c for c in pub.COLUMNS if c in cols]
    return known + sorted(c for c in cols if c not in pub.COLUMNS)


def build_leaderboard(conn: sqlite3.Connection, metric: str = "best") -> Leaderboard:
    """Group the index's runs into sections (protocol) x pools x columns and score each column."""
    metric = METRIC_ALIASES.get(metric, metric)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    key = METRICS[metric][0]
    groups: dict[str, dict[tuple[str, str], Cell]] = defaultdict(dict)
    standard: dict[str, bool] = {}
    # (protocol, column) -> {pool label: what same_function needs to know of it}
    pools_of: dict[tuple[str, str], dict[str, PoolInColumn]] = defaultdict(dict)
    rows = conn.execute("SELECT * FROM runs ORDER BY protocol_label, column_key, pool, seed, run_id")
    for r in rows:
        label = r["protocol_label"]
        standard[label] = bool(r["standard"])
        cell = groups[label].setdefault((r["pool"], r["column_key"]), Cell(r["pool"], r["column_key"]))
        if r["status"] == "finished":
            pools_of[(label, r["column_key"])][r["pool"]] = PoolInColumn(
                r["model"], r["pool_name"], r["pool_args"] or "{}", bool(r["surgery"]), r["pool_file"], r["pool_1x1"]
            )
        value = r[key]
        if r["status"] == "finished" and value is not None:
            cell.values.append(float(value))
            cell.seeds.append(r["seed"])
            cell.run_ids.append(r["run_id"])
        else:
            # a finished run may lack this metric (no --val-split for val)
            why = "without value" if r["status"] == "finished" else r["status"]
            cell.other[why] = cell.other.get(why, 0) + 1
    sections = []
    for label in sorted(groups, key=lambda lb: (not standard[lb], lb)):
        cells = groups[label]
        for c in cells.values():
            c.mean, c.std, c.n = summarize(c.values)
        if metric == "val" and not any(c.n for c in cells.values()):
            continue  # trained without --val-split: the metric does not exist here
        columns = column_order({col for _, col in cells})
        same_pools = same_function_pools({col: pools_of[(label, col)] for col in columns})
        same: dict[str, str] = {}
        verdicts = {}
        for col in columns:
            in_col = {pool: c.values for (pool, cc), c in cells.items() if cc == col and c.n}
            twins = same_pools.get(col, {})
            for pool, relation in twins.items():
                if (pool, col) in cells:
                    cells[(pool, col)].same_function = relation
            if len(in_col) > 1 and set(in_col) <= set(twins):
                same[col] = "1x1 map: " + ", ".join(sorted(set(twins.values())))
            verdicts[col] = _score_column(cells, col, in_col, twins, same.get(col))
        sections.append(
            Section(label, standard[label], columns, sorted({p for p, _ in cells}), cells, verdicts, same, same_pools)
        )
    unavailable = VAL_UNAVAILABLE if metric == "val" and not sections and groups else None
    return Leaderboard(metric, sections, unavailable)


def _score_column(
    cells: dict[tuple[str, str], Cell],
    col: str,
    in_col: dict[str, list[float]],
    twins: dict[str, str],
    all_same: str | None,
) -> dict[str, Any]:
    """The column's verdict (``stats.best_vs_runner_up``) and its marks: a star on the best mean
    unless the column is one function (``all_same``), the best is one function with another pool
    there (``twins``), or the best means tie at the printed precision."""
    v = best_vs_runner_up(in_col)
    if v["runner_up"] is None:  # "best" of a single pool says nothing
        return v
    top = round(summarize(in_col[v["best"]])[0], TIE_DECIMALS)
    tied = [p for p, vals in in_col.items() if round(summarize(vals)[0], TIE_DECIMALS) == top]
    if all_same:  # the same function throughout: a "best" here would be a star on noise
        v["reason"] = f"all pools are the same function here ({all_same}); no best is marked"
    elif len(tied) > 1:
        for p in tied:
            cells[(p, col)].tie = True
        v["tie"] = sorted(tied)
        v["reason"] = f"tie: {', '.join(sorted(tied))} have the same mean to {TIE_DECIMALS} decimals; no best is marked"
    elif v["best"] in twins and len(set(twins) & set(in_col)) > 1:
        others = sorted(set(twins) & set(in_col) - {v["best"]})
        v["reason"] = (
            f"the best, {v['best']}, is the same function here as {', '.join(others)} (1x1 map): "
            "which of them is higher is run-to-run noise; no best is marked"
        )
    else:
        best = cells[(v["best"], col)]
        best.best, best.beats_runner_up, best.p_vs_runner_up = True, v["beats"], v["p"]
    return v


def load_leaderboard(runs_dir: str | Path, metric: str = "best") -> Leaderboard:
    """Rebuild the index of ``runs_dir`` and return its leaderboard."""
    conn = build_index(runs_dir)
    try:
        return build_leaderboard(conn, metric)
    finally:
        conn.close()


# --- rendering ---------------------------------------------------------------------------------


def _grid(header: list[str], rows: list[list[str]]) -> str:
    header, rows = [plain(h) for h in header], [[plain(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(s.ljust(w) for s, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = markdown
    out = ["| " + " | ".join(map(esc, header)) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    return "\n".join(out + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def _section_rows(sec: Section, best_mark: tuple[str, str]) -> list[list[str]]:
    empty = Cell("", "")
    return [[pool] + [sec.cells.get((pool, col), empty).text(best_mark) for col in sec.columns] for pool in sec.pools]


def published_rows() -> tuple[list[str], list[list[str]]]:
    """The published block under our column names (``published.column_note`` says which is which):
    each cell the distribution over the published seeds, mean ± std (n: per-seed values)."""
    header = ["pool"] + list(pub.COLUMNS)
    return header, [[pub.row_label(pool)] + [pub.cell_text(pool, c) for c in pub.COLUMNS] for pool in pub.PUBLISHED]


def rerun_rows(columns: list[str]) -> tuple[list[str], list[list[str]]] | None:
    """The third-party rerun (``published.SOURCES["rerun"]``) in those of its columns that are in
    ``columns``: per cell the finished runs (collapses left out) and the divergence count; None
    when none of its columns is shown."""
    src = pub.get_source("rerun")
    cols = [c for c in src.columns if c in columns]
    if not cols:
        return None
    cells = pub.cells("rerun")
    rows = []
    for pool in sorted({p for p, _ in cells}):
        row = [pub.row_label(pool)]
        for col in cols:
            c = cells[(pool, col)]
            vals = [c.finished[s] for s in sorted(c.finished)]
            mean, std, n = summarize(vals)
            num = f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {std:.2f}"
            text = f"{num} (n={n}: {', '.join(f'{v:.2f}' for v in vals)}); {c.divergence.text()}"
            if c.diverged_seeds:
                seeds = ", ".join(map(str, c.diverged_seeds))
                text += f" {DIVERGED} (seed{'s' if len(c.diverged_seeds) > 1 else ''} {seeds} at chance)"
            row.append(text)
        rows.append(row)
    return ["pool"] + cols, rows


def _rerun_title() -> str:
    src = pub.get_source("rerun")
    return f"Published rerun ({src.citation}; seeds {', '.join(map(str, src.seeds))}; {COLLAPSE_RULE})"


def _published_title() -> str:
    seeds = ", ".join(map(str, pub.SEEDS))
    return f"Published reference ({pub.SOURCE}; {pub.METRIC}; seeds {seeds}: mean ± std (n: the values in seed order))"


def _published_note() -> str:
    return f"(the benchmark's labels: {pub.column_note()})"


def headline(lb: Leaderboard) -> str:
    """Which accuracy the table shows (``--metric``) and over which runs."""
    title = lb.metric_title[0].upper() + lb.metric_title[1:]
    return f"{title} (--metric {lb.metric}): mean ± std over finished runs; diverged runs are a rate, never averaged"


def divergence_rows(sec: Section) -> tuple[list[str], list[list[str]]]:
    """Per cell: finished and diverged runs and the divergence rate with its Wilson interval."""
    rows = []
    for pool in sec.pools:
        row = [pool]
        for col in sec.columns:
            c = sec.cells.get((pool, col))
            d = c.divergence if c else None
            row.append((d.text() + (f" {DIVERGED}" if d.diverged else "")) if d and d.runs else "")
        rows.append(row)
    return ["pool"] + sec.columns, rows


def divergence_title() -> str:
    return (
        f"Divergence: finished and diverged runs per cell, the rate with its {INTERVAL_METHOD} "
        f"(failed and unfinished runs are neither)"
    )


def shows_published(lb: Leaderboard) -> bool:
    """Whether a section has one of the published columns (only then is the reference shown)."""
    return any(c in pub.COLUMNS for sec in lb.sections for c in sec.columns)


def render_text(lb: Leaderboard) -> str:
    parts = [headline(lb)]
    if lb.unavailable:
        parts.append(lb.unavailable)
    elif not lb.sections:
        parts.append("(no runs)")
    for sec in lb.sections:
        parts += ["", plain(sec.title()), _grid(sec.header(), _section_rows(sec, ("", f" {BEST}")))]
        parts += ["", divergence_title(), _grid(*divergence_rows(sec))]
    if shows_published(lb):
        parts += ["", _published_title(), _grid(*published_rows()), _published_note()]
        if rerun := rerun_rows([c for sec in lb.sections for c in sec.columns]):
            parts += ["", _rerun_title(), _grid(*rerun)]
    parts += ["", LEGEND]
    return "\n".join(parts) + "\n"


def render_md(lb: Leaderboard, heading: str = "###", published: bool = True) -> str:
    parts = [f"**{headline(lb)}.**"]
    if lb.unavailable:
        parts.append(f"\n_{lb.unavailable}._")
    elif not lb.sections:
        parts.append("\n_No runs._")
    for sec in lb.sections:
        parts += [
            "",
            f"{heading} {markdown(sec.title())}",
            "",
            _md_table(sec.header(), _section_rows(sec, ("**", "**"))),
            "",
            f"{divergence_title()}:",
            "",
            _md_table(*divergence_rows(sec)),
        ]
    if published and shows_published(lb):
        parts += ["", f"{heading} {_published_title()}", "", _md_table(*published_rows()), "", _published_note()]
        if rerun := rerun_rows([c for sec in lb.sections for c in sec.columns]):
            parts += ["", f"{heading} {_rerun_title()}", "", _md_table(*rerun)]
    parts += ["", LEGEND.replace(f"{BEST} best", "**bold** best")]
    return "\n".join(parts) + "\n"


CSV_FIELDS = (
    "source",
    "protocol_label",
    "standard",
    "column",
    "pool",
    "metric",
    "mean",
    "std",
    "n",
    "one_seed",
    "seeds",
    "values",
    "n_finished",
    "n_diverged",
    "divergence_rate",
    "divergence_ci_low",
    "divergence_ci_high",
    "n_failed",
    "n_unfinished",
    "n_without_value",
    "best",
    "tie",
    "beats_runner_up",
    "p_vs_runner_up",
    "same_function_column",
    "same_function_pool",
    "run_ids",
)


def _rounded(x: float | None) -> float | None:
    """A JSON-safe number: NaN (no value) becomes null."""
    return None if x is None or math.isnan(x) else round(x, 4)


def cell_records(lb: Leaderboard) -> list[dict[str, Any]]:
    """One flat record per cell (our runs), then one per published number."""
    recs = []
    for sec in lb.sections:
        for pool in sec.pools:
            for col in sec.columns:
                c = sec.cells.get((pool, col))
                if c is None:
                    continue
                recs.append(
                    {
                        "source": "runs",
                        "protocol_label": sec.protocol_label,
                        "standard": sec.standard,
                        "column": col,
                        "pool": pool,
                        "metric": lb.metric,
                        "mean": _rounded(c.mean),
                        "std": _rounded(c.std),
                        "n": c.n,
                        "one_seed": c.n == 1,
                        "seeds": c.seeds,
                        "values": c.values,
                        "n_finished": c.divergence.finished,
                        "n_diverged": c.divergence.diverged,
                        "divergence_rate": _rounded(c.divergence.rate),
                        "divergence_ci_low": _rounded((c.divergence.interval or (None, None))[0]),
                        "divergence_ci_high": _rounded((c.divergence.interval or (None, None))[1]),
                        "n_failed": c.other.get("failed", 0),
                        "n_unfinished": c.other.get("unfinished", 0),
                        "n_without_value": c.other.get("without value", 0),
                        "best": c.best,
                        "tie": c.tie,
                        "beats_runner_up": c.beats_runner_up,
                        "p_vs_runner_up": c.p_vs_runner_up,
                        "same_function_column": col in sec.same_function,
                        "same_function_pool": c.same_function,
                        "run_ids": c.run_ids,
                    }
                )
    for pool in pub.PUBLISHED:
        for col in pub.COLUMNS:  # under our names, so the records join with ours
            vals = pub.values(pool, col)
            mean, std, n = pub.summary(pool, col)
            recs.append(
                {k: None for k in CSV_FIELDS}
                | {
                    "source": f"published: {pub.SOURCE}",
                    "protocol_label": "standard",
                    "standard": True,
                    "column": col,
                    "pool": pub.OUR_NAME[pool],
                    "metric": "best",
                    "mean": round(mean, 4),
                    "std": round(std, 4),
                    "n": n,
                    "one_seed": n == 1,
                    "seeds": sorted(vals),
                    "values": [vals[s] for s in sorted(vals)],
                }
            )
    rerun = pub.get_source("rerun")
    for (pool, col), c in sorted(pub.cells("rerun").items()):
        mean, std, n = summarize([c.finished[s] for s in sorted(c.finished)])
        d = c.divergence
        recs.append(
            {k: None for k in CSV_FIELDS}
            | {
                "source": f"published rerun: {rerun.citation}",
                "protocol_label": "standard",
                "standard": True,
                "column": col,
                "pool": pub.OUR_NAME[pool],
                "metric": "best",
                "mean": _rounded(mean),
                "std": _rounded(std),
                "n": n,
                "one_seed": n == 1,
                "seeds": sorted(c.finished),
                "values": [c.finished[s] for s in sorted(c.finished)],
                "n_finished": d.finished,
                "n_diverged": d.diverged,
                "divergence_rate": _rounded(d.rate),
                "divergence_ci_low": _rounded((d.interval or (None, None))[0]),
                "divergence_ci_high": _rounded((d.interval or (None, None))[1]),
            }
        )
    return recs


def render_csv(lb: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for rec in cell_records(lb):
        rec = dict(rec)
        for k in ("seeds", "values", "run_ids"):
            rec[k] = ";".join(map(str, rec[k] or []))
        w.writerow({k: csv_cell(v) for k, v in rec.items()})
    return buf.getvalue()


def render_json(lb: Leaderboard) -> str:
    doc = {
        "metric": lb.metric,
        "metric_title": lb.metric_title,
        "unavailable": lb.unavailable,
        "accuracy_over": "finished runs; diverged runs are counted (n_diverged) and rated, never averaged",
        "divergence_interval": INTERVAL_METHOD,
        "legend": LEGEND,
        "sections": [
            {
                "protocol_label": s.protocol_label,
                "standard": s.standard,
                "columns": s.columns,
                "pools": s.pools,
                "verdicts": s.verdicts,
                "same_function_columns": s.same_function,
            }
            for s in lb.sections
        ],
        "cells": [r for r in cell_records(lb) if r["source"] == "runs"],
        "published": {
            "source": pub.SOURCE,
            "metric": pub.METRIC,
            "seeds": list(pub.SEEDS),
            "cells": [r for r in cell_records(lb) if r["source"] != "runs"],
        },
    }
    return json.dumps(doc, indent=2, allow_nan=False, default=_jsonable) + "\n"


def _jsonable(o: Any) -> Any:
    return asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)


def render(lb: Leaderboard, fmt: str = "text") -> str:
    renderers = {"text": render_text, "md": render_md, "csv": render_csv, "json": render_json}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](lb)
