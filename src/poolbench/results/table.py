"""The benchmark's leaderboard: rows pools, columns model-dataset, mean ± std (n) over seeds.

Runs are grouped by protocol label first: every protocol is its own section, so standard and
non-standard runs never meet in one cell, and a non-standard section is headed by its label.
In each column the pool with the best mean is marked, and ▲ says it beats the runner-up with
95% confidence (Welch, see ``stats.best_vs_runner_up``). Diverged, failed and unfinished runs
are counted beside the cell, never averaged in.
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

from ..train.config import FLEX_SAC_VERSION as _CURRENT_FLEX_SAC
from ..train.label import pool_label
from . import published as pub
from .index import build_index
from .metrics import FORMATS, METRIC_ALIASES, METRICS
from .safe_text import csv_cell, markdown, plain
from .same_function import same_function_columns
from .stats import best_vs_runner_up, summarize

BEST, BEATS, ONE_SEED, SAME = "*", "▲", "†", "≡"
LEGEND = (
    f"{BEST} best mean in its column (of 2+ pools); {BEATS} the best beats the runner-up "
    f"(Welch two-sided p<0.05); {ONE_SEED} one seed, no std; n = seeds averaged; {SAME} a 1x1-map "
    f"column where every pool is the same function (the identity up to what the classifier "
    f"absorbs, `poolbench check`): differences there are run-to-run noise, no best is marked"
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

    def text(self, best_mark: tuple[str, str] = ("", f" {BEST}")) -> str:
        """'71.06 ± 0.21 (n=3)', '72.10 (n=1)†', '— (1 diverged)'; ``best_mark`` wraps the number."""
        notes = "; ".join(f"{v} {k}" for k, v in sorted(self.other.items()))
        if self.n == 0:
            return f"— ({notes})" if notes else ""
        num = f"{self.mean:.2f}" if self.n == 1 else f"{self.mean:.2f} ± {self.std:.2f}"
        if self.best:
            num = best_mark[0] + num + best_mark[1] + (BEATS if self.beats_runner_up else "")
        s = f"{num} (n={self.n}{'; ' + notes if notes else ''})"
        return s + ONE_SEED if self.n == 1 else s


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

    def header(self) -> list[str]:
        return ["pool"] + [f"{c} {SAME}" if c in self.same_function else c for c in self.columns]

    def title(self) -> str:
        if self.standard:
            return "Protocol: standard"
        return f"Protocol: {self.protocol_label} — not comparable with the published benchmark"


@dataclass
class Leaderboard:
    metric: str
    sections: list[Section]

    @property
    def metric_title(self) -> str:
        return METRICS[self.metric][1]


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
    # (protocol, column) -> {pool label: (model, pool name, pool args, plain pool)} for same_function
    pools_of: dict[tuple[str, str], dict[str, tuple]] = defaultdict(dict)
    rows = conn.execute("SELECT * FROM runs ORDER BY protocol_label, column_key, pool, seed, run_id")
    for r in rows:
        label = r["protocol_label"]
        standard[label] = bool(r["standard"])
        cell = groups[label].setdefault((r["pool"], r["column_key"]), Cell(r["pool"], r["column_key"]))
        if r["status"] == "finished":
            args = r["pool_args"] or "{}"
            plain = r["pool"] == pool_label(
                {"pool": r["pool_name"], "pool_args": json.loads(args), "flex_sac_version": _CURRENT_FLEX_SAC}
            )
            pools_of[(label, r["column_key"])][r["pool"]] = (r["model"], r["pool_name"], args, plain)
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
        same = same_function_columns({col: pools_of[(label, col)].values() for col in columns})
        verdicts = {}
        for col in columns:
            in_col = {pool: c.values for (pool, cc), c in cells.items() if cc == col and c.n}
            v = best_vs_runner_up(in_col)
            verdicts[col] = v
            if col in same:  # the same function throughout: a "best" here would be a star on noise
                v["reason"] = f"all pools are the same function here ({same[col]}); no best is marked"
            elif v["runner_up"] is not None:  # "best" of a single pool says nothing
                best = cells[(v["best"], col)]
                best.best, best.beats_runner_up, best.p_vs_runner_up = True, v["beats"], v["p"]
        sections.append(Section(label, standard[label], columns, sorted({p for p, _ in cells}), cells, verdicts, same))
    return Leaderboard(metric, sections)


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


def _published_title() -> str:
    seeds = ", ".join(map(str, pub.SEEDS))
    return f"Published reference ({pub.SOURCE}; {pub.METRIC}; seeds {seeds}: mean ± std (n: the values in seed order))"


def _published_note() -> str:
    return f"(the benchmark's labels: {pub.column_note()})"


def render_text(lb: Leaderboard) -> str:
    parts = [f"{lb.metric_title[0].upper()}{lb.metric_title[1:]}: mean ± std over seeds"]
    if not lb.sections:
        parts.append("(no runs)")
    for sec in lb.sections:
        parts += ["", plain(sec.title()), _grid(sec.header(), _section_rows(sec, ("", f" {BEST}")))]
    parts += ["", _published_title(), _grid(*published_rows()), _published_note(), "", LEGEND]
    return "\n".join(parts) + "\n"


def render_md(lb: Leaderboard, heading: str = "###", published: bool = True) -> str:
    parts = [f"**{lb.metric_title[0].upper()}{lb.metric_title[1:]}**, mean ± std over seeds."]
    if not lb.sections:
        parts.append("\n_No runs._")
    for sec in lb.sections:
        parts += [
            "",
            f"{heading} {markdown(sec.title())}",
            "",
            _md_table(sec.header(), _section_rows(sec, ("**", "**"))),
        ]
    if published:
        parts += ["", f"{heading} {_published_title()}", "", _md_table(*published_rows()), "", _published_note()]
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
    "n_diverged",
    "n_failed",
    "n_unfinished",
    "n_without_value",
    "best",
    "beats_runner_up",
    "p_vs_runner_up",
    "same_function_column",
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
                        "n_diverged": c.other.get("diverged", 0),
                        "n_failed": c.other.get("failed", 0),
                        "n_unfinished": c.other.get("unfinished", 0),
                        "n_without_value": c.other.get("without value", 0),
                        "best": c.best,
                        "beats_runner_up": c.beats_runner_up,
                        "p_vs_runner_up": c.p_vs_runner_up,
                        "same_function_column": col in sec.same_function,
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
