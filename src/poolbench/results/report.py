"""The benchmark report: one self-contained HTML page and its Markdown twin.

``write_report(runs_dir, out_dir)`` writes ``out_dir/report.html`` (inline CSS and JS, every
image embedded as base64, so the file can be mailed or attached to an issue) and
``out_dir/report.md`` with the same tables and the images as files under ``out_dir/img/``.

Contents: the leaderboard (best-epoch test accuracy, the benchmark's metric) per protocol with
its divergence table, each pool against the baselines (with what the seeds can detect), the
aggregates across columns (IQM, probability of improvement, stratified bootstrap intervals), the
published reference block (only beside a published column), final-epoch and
validation-selected tables, bar charts with 95% CIs, the spread of every pool with its diverged
runs marked, the smallest detectable difference against n seeds, learning curves, the pictures
runs left in their directories (``pool_weights.png`` ...), and a provenance row for every run.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import html
import json
import re
import sqlite3
import warnings
from pathlib import Path

from ..fileio import (
    FileTooLargeError,
    UnsafeFileError,
    atomic_write_bytes,
    atomic_write_text,
    make_folder,
    read_bytes,
    remove_stale_temps,
)
from ..version import __version__
from . import published as pub
from .across_columns import across_columns, across_rows
from .aggregate import CI_METHOD as AGG_METHOD
from .compare import against_all, against_rows
from .divergence import COLLAPSE_RULE
from .index import build_index
from .plots import bar_chart, detectable_plot, learning_curves, pool_colors, profile_plot, strip_plot
from .power import measure_spread
from .safe_text import markdown, plain
from .stats import CI_METHOD
from .table import (
    DIVERGED,
    LEGEND,
    SAME,
    TIE,
    Cell,
    Leaderboard,
    Section,
    build_leaderboard,
    divergence_rows,
    divergence_title,
    published_rows,
    render_md,
    rerun_rows,
    shows_published,
)

PathLike = str | Path
MAX_PICTURE_BYTES = 2_000_000  # larger run pictures are linked by path, not embedded
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The run id already names model, dataset, pool and seed; the pool label adds its arguments.
PROVENANCE_FIELDS = (
    ("run_id", "run"),
    ("status", "status"),
    ("pool", "pool"),
    ("protocol_label", "protocol"),
    ("seed", "seed"),
    ("best_test_acc", "best"),
    ("final_test_acc", "final"),
    ("test_acc_at_best_val", "at best val"),
    ("epochs_completed", "epochs"),
    ("git_commit", "commit"),
    ("torch_version", "torch"),
    ("device", "device"),
    ("date", "date"),
    ("wall_time_s", "wall time"),
)

CSS = """
:root { --ink:#1f2933; --muted:#66788a; --line:#e4e8ee; --bg:#f6f8fb; --accent:#2f6fdf;
        --best:#fff3c4; --bestline:#e0b100; --warn:#fff1e6; --warnline:#f08c3c; --good:#1a8f4a; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
       font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background:linear-gradient(120deg,#17324d,#2f6fdf); color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 6px; font-size:26px; letter-spacing:.2px; }
header p { margin:0; opacity:.85; font-size:14px; }
nav { margin-top:14px; display:flex; gap:8px; flex-wrap:wrap; }
nav a { color:#fff; background:rgba(255,255,255,.14); padding:4px 11px; border-radius:14px;
        text-decoration:none; font-size:13px; }
main { max-width:1280px; margin:0 auto; padding:10px 32px 60px; }
section.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 22px;
               margin:20px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
h2 { margin:0 0 10px; font-size:19px; } h3 { margin:18px 0 8px; font-size:15.5px; }
.note { color:var(--muted); font-size:13px; margin:6px 0; }
.banner { background:var(--warn); border-left:4px solid var(--warnline); padding:6px 10px;
          border-radius:4px; font-size:13.5px; margin:8px 0; }
.stdtag { background:#e7f5ec; border-left:4px solid var(--good); padding:6px 10px; border-radius:4px;
          font-size:13.5px; margin:8px 0; }
.tablewrap { overflow-x:auto; max-width:100%; }
table.versus td.verdict { white-space:normal; min-width:22em; max-width:38em; }
table.divergence td { font-size:12.5px; }
.diverged { color:#c0392b; font-weight:700; } .tie, .same { color:var(--muted); font-size:12px; }
.tablewrap + .stdtag, .tablewrap + .banner { margin-top:22px; }
table { border-collapse:collapse; width:100%; font-size:13.5px; }
table.leaderboard, table#published { width:auto; min-width:55%; }
table.leaderboard td:first-child, table#published td:first-child { min-width:150px; }
th, td { padding:7px 14px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
thead th { background:#eef2f7; position:sticky; top:0; cursor:pointer; user-select:none; font-weight:600; }
thead th .arrow { color:var(--muted); font-size:11px; margin-left:4px; }
tbody tr:nth-child(even) td { background:#fafbfd; }
tbody tr:hover td { background:#eef4ff; }
td.num { font-variant-numeric:tabular-nums; }
td.best { background:var(--best) !important; box-shadow:inset 3px 0 0 var(--bestline); font-weight:600; }
.pm { color:var(--muted); font-weight:400; } .n { color:var(--muted); font-size:12px; font-weight:400; }
.beats { color:var(--good); font-weight:700; margin-left:3px; }
.oneseed { color:#8a6d00; } .extra { color:#b54708; font-size:12px; font-weight:400; }
td.pool { font-weight:600; }
.legend { display:flex; gap:16px; flex-wrap:wrap; font-size:12.5px; color:var(--muted); margin-top:8px; }
.swatch { display:inline-block; width:11px; height:11px; background:var(--best); border:1px solid var(--bestline);
          vertical-align:-1px; margin-right:4px; }
img.fig { max-width:100%; border:1px solid var(--line); border-radius:6px; background:#fff; }
.figrow { display:flex; flex-wrap:wrap; gap:14px; align-items:flex-start; }
.gallery { display:grid; grid-template-columns:repeat(auto-fill, minmax(210px, 1fr)); gap:14px; }
figure { margin:0; background:#fafbfd; border:1px solid var(--line); border-radius:8px; padding:8px; }
figure img { width:100%; image-rendering:pixelated; border-radius:4px; }
figcaption { font-size:12px; color:var(--muted); margin-top:5px; overflow-wrap:anywhere; }
figcaption b { color:var(--ink); }
table.prov td, table.prov th { font-size:11.5px; padding:5px 7px; }
table.prov td:nth-child(4) { white-space:normal; min-width:150px; }
table.prov td:nth-child(12) { white-space:normal; min-width:110px; }
.status-finished { color:var(--good); } .status-diverged, .status-failed { color:#c0392b; }
.status-unfinished { color:var(--muted); }
code { background:#eef2f7; padding:1px 5px; border-radius:4px; font-size:12.5px; }
"""

# Click a header to sort by that column (numbers by their data-v value, text otherwise).
JS = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('thead th').forEach(function (th, i) {
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.from(body.rows), dir = th.dataset.dir === 'desc' ? 1 : -1;
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
        if (x !== undefined && y !== undefined) return dir * (parseFloat(x) - parseFloat(y));
        return dir * a.cells[i].textContent.localeCompare(b.cells[i].textContent);
      });
      th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

e = html.escape


def _img(png: bytes, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell_html(c: Cell | None) -> str:
    if c is None:
        return '<td class="num"></td>'
    extra = "; ".join(f"{v} {k}" for k, v in sorted(c.other.items()))
    extra_html = f' <span class="extra">{e(extra)}</span>' if extra else ""
    if c.other.get("diverged"):
        extra_html += f' <span class="diverged" title="a run of this cell diverged">{DIVERGED}</span>'
    if c.n == 0:
        return f'<td class="num" data-v="-1">—{extra_html}</td>'
    runs = ", ".join(f"seed {s}: {r}" for s, r in zip(c.seeds, c.run_ids, strict=True))
    num = f"{c.mean:.2f}" + (f' <span class="pm">± {c.std:.2f}</span>' if c.n > 1 else "")
    n = f'<span class="n">n={c.n}</span>' + (
        '<span class="oneseed" title="one seed, no std">†</span>' if c.n == 1 else ""
    )
    beats = '<span class="beats" title="beats the runner-up, Welch p&lt;0.05">▲</span>' if c.beats_runner_up else ""
    marks = f' <span class="tie" title="tied with another best mean: no star">{TIE}</span>' if c.tie else ""
    if c.same_function:
        why = f"the same function as the other {SAME} pools on this 1x1 map: {c.same_function}"
        marks += f' <span class="same" title="{e(why)}">{SAME}</span>'
    cls = "num best" if c.best else "num"
    return f'<td class="{cls}" data-v="{c.mean:.4f}" title="{e(runs)}">{num}{beats}{marks} {n}{extra_html}</td>'


def _section_html(sec: Section, table_id: str | None = None) -> str:
    head = "".join(f'<th>{e(c)}<span class="arrow">⇅</span></th>' for c in sec.header())
    rows = "".join(
        f'<tr><td class="pool">{e(p)}</td>' + "".join(_cell_html(sec.cells.get((p, c))) for c in sec.columns) + "</tr>"
        for p in sec.pools
    )
    tag = (
        '<div class="stdtag">Standard protocol — comparable with the published benchmark.</div>'
        if sec.standard
        else f'<div class="banner"><b>Protocol: {e(sec.protocol_label)}</b> — '
        "not comparable with the published numbers.</div>"
    )
    tid = f' id="{table_id}"' if table_id else ""
    return (
        f'{tag}<div class="tablewrap"><table class="sortable leaderboard"{tid}>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{_divergence_html(sec)}"
    )


def _plain_table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return (
        f'<div class="tablewrap"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _divergence_html(sec: Section) -> str:
    return f'<p class="note">{e(divergence_title())}</p>' + _plain_table(*divergence_rows(sec), cls="divergence")


def _legend_html() -> str:
    return (
        '<div class="legend"><span><span class="swatch"></span>best mean in its column (of 2+ pools)</span>'
        '<span><span class="beats">▲</span> best beats the runner-up (Welch two-sided p&lt;0.05)</span>'
        f'<span><span class="tie">{TIE}</span>: the best means are equal to 2 decimals, none is gilded</span>'
        f'<span><span class="same">{SAME}</span> the same function as the other {SAME} pools on this 1x1 map: '
        "never gilded over them</span>"
        f'<span><span class="diverged">{DIVERGED}</span> a run of the cell diverged (see its divergence table)</span>'
        "<span>† one seed (no std)</span><span>n = finished runs averaged; diverged, failed and unfinished runs "
        "are counted, never averaged</span><span>hover a cell for its runs</span></div>"
    )


def _published_html(columns: list[str]) -> str:
    header, rows = published_rows()
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"pool" if i == 0 else "num"}">{e(v)}</td>' for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return (
        f'<p class="note">Source: {e(pub.SOURCE)}; {e(pub.METRIC)}. Its {e(pub.column_note())}. Shown '
        "for reference, never mixed into our cells; dashed ticks in the bar charts.</p>"
        '<div class="tablewrap"><table id="published">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>" + _rerun_html(columns)
    )


def _rerun_html(columns: list[str]) -> str:
    rerun = rerun_rows(columns)
    if rerun is None:
        return ""
    src = pub.get_source("rerun")
    return (
        f'<h3>Published rerun</h3><p class="note">Source: {e(src.citation)}; seeds '
        f"{e(', '.join(map(str, src.seeds)))}. {e(COLLAPSE_RULE)}.</p>" + _plain_table(*rerun)
    )


def _fmt(v, key: str) -> str:
    if v is None:
        return ""
    if key == "wall_time_s":
        return f"{v / 3600:.2f} h" if v >= 3600 else f"{v:.0f} s"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _provenance(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM runs ORDER BY standard DESC, protocol_label, column_key, pool, seed").fetchall()


def _provenance_html(runs: list[sqlite3.Row], skipped: list[sqlite3.Row]) -> str:
    head = "".join(f"<th>{e(t)}</th>" for _, t in PROVENANCE_FIELDS)
    body = []
    for r in runs:
        tds = []
        for k, _ in PROVENANCE_FIELDS:
            cls = f' class="status-{e(r[k])}"' if k == "status" else ""
            text = _fmt(r[k], k)
            # short on screen, the full value on hover
            if k == "git_commit" and text:
                cls, text = f' title="{e(text)}"', text[:10] + ("+dirty" if text.endswith("+dirty") else "")
            elif k == "date" and text:
                cls, text = f' title="{e(text)}"', text.replace("T", " ")[:16]
            tds.append(f"<td{cls}>{e(text)}</td>")
        body.append(f'<tr id="run-{e(r["run_id"])}">' + "".join(tds) + "</tr>")
    out = (
        f'<div class="tablewrap"><table class="prov sortable" id="provenance"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
    if skipped:
        items = "".join(f"<li><code>{e(s['path'])}</code>: {e(s['reason'])}</li>" for s in skipped)
        out += f'<h3>Run directories that could not be read</h3><ul class="note">{items}</ul>'
    return out


def _read_png(run_dir: Path, name: str) -> tuple[bytes | None, str]:
    """(bytes, "") of a regular PNG file directly inside ``run_dir``, or (None, why not).

    A run directory is someone else's: ``*.png`` may be a symlink to a private key, a folder, a
    FIFO or anything else. Only a regular file, opened without following links, that starts with
    the PNG signature and is not too large, is embedded or copied."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None, "not a plain file name"
    try:
        data = read_bytes(run_dir / name, MAX_PICTURE_BYTES)
    except FileTooLargeError:
        return None, "too large to embed"
    except UnsafeFileError:
        return None, "not a regular file"
    except OSError as err:
        return None, f"not readable as a regular file ({err.strerror})"
    if not data.startswith(PNG_SIGNATURE):
        return None, "not a PNG file"
    return data, ""


def _pictures(runs: list[sqlite3.Row]) -> list[tuple[sqlite3.Row, str, Path, bytes | None, str]]:
    """(run, file name, path, PNG bytes or None, why not) for every ``*.png`` a run left in its
    directory; only regular PNG files inside it have bytes (see ``_read_png``)."""
    out = []
    for r in runs:
        for name in json.loads(r["images"] or "[]"):
            path = Path(r["path"]) / name
            out.append((r, name, path, *_read_png(Path(r["path"]), name)))
    return out


def safe_file_name(text: str, limit: int = 150) -> str:
    """A file name made of [A-Za-z0-9._-] only, never hidden, never a path (a run id from a
    config.json may be '../../x')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).lstrip(".") or "_"
    return name[:limit]


def _caption(r: sqlite3.Row, name: str) -> str:
    return plain(f"{r['pool']} · {r['column_key']} · seed {r['seed']} · {name} · {r['protocol_label']}")


def _caption_html(r: sqlite3.Row, name: str) -> str:
    return (
        f"<b>{e(r['pool'])}</b> · {e(r['column_key'])} · seed {e(str(r['seed']))}<br>"
        f"{e(name)} · {e(r['protocol_label'])}"
    )


DETECTABLE_SEEDS = list(range(2, 31))


def _detectable_panels(sec: Section) -> list[tuple[str, list[tuple[str, float, str]]]]:
    """Per column of the section, the spreads to plot: the section's own runs and, for a standard
    section's published column, the benchmark's published runs."""
    panels = []
    for col in sec.columns:
        runs = {pool: dict(zip(c.seeds, c.values, strict=True)) for (pool, cc), c in sec.cells.items() if cc == col}
        lines = []
        ours = measure_spread(col, runs, "your runs")
        if ours.df:
            lines.append((f"your runs (sd {ours.sd:.2f}, {ours.df} df)", ours.sd, "-"))
        if sec.standard and col in pub.COLUMNS:
            theirs = measure_spread(col, {p: c.finished for (p, cc), c in pub.cells().items() if cc == col}, "pub")
            lines.append((f"published baselines (sd {theirs.sd:.2f}, {theirs.df} df)", theirs.sd, "k--"))
        if lines:
            panels.append((col, lines))
    return panels


def write_report(runs_dir: PathLike, out_dir: PathLike, db_path: PathLike | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``img/``) into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    img_dir = out_dir / "img"
    make_folder(img_dir)  # a link planted in the report folder would take the pictures elsewhere
    conn = build_index(runs_dir, db_path)
    try:
        boards: dict[str, Leaderboard] = {m: build_leaderboard(conn, m) for m in ("best", "final", "val")}
        runs = _provenance(conn)
        versus = against_all(conn)
        across = [(sec, res) for sec in boards["best"].sections if (res := across_columns(sec))]
        skipped = conn.execute("SELECT * FROM skipped").fetchall()
        colors = pool_colors([r["pool"] for r in runs])
        figures = []  # (section title, kind, file name, png)
        for i, sec in enumerate(boards["best"].sections):
            draws = [
                ("bars", functools.partial(bar_chart, sec, colors)),
                ("spread", functools.partial(strip_plot, sec, colors)),
                ("curves", functools.partial(learning_curves, conn, sec.protocol_label, sec.columns, colors)),
            ]
            if panels := _detectable_panels(sec):
                draws.append(("detectable", functools.partial(detectable_plot, panels, DETECTABLE_SEEDS)))
            if agg := next((res for s, res in across if s is sec), None):
                draws.append(("profile", functools.partial(profile_plot, agg["profiles"], colors)))
            for kind, draw in draws:
                try:
                    figures.append((sec, kind, f"{kind}-{i}.png", draw()))
                except Exception as err:  # noqa: BLE001 - a figure that cannot be drawn costs that figure
                    warnings.warn(
                        f"report: no {kind} chart for {plain(sec.title())}: {type(err).__name__}: {err}", stacklevel=2
                    )
    finally:
        conn.close()
    pictures = _pictures(runs)
    for folder in (out_dir, img_dir, img_dir / "runs"):  # what a killed report left half-written
        remove_stale_temps(folder)
    for name, png in ((f, p) for _, _, f, p in figures):
        atomic_write_bytes(img_dir / name, png)

    generated = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    n_fin = sum(r["status"] == "finished" for r in runs)
    subtitle = (
        f'{len(runs)} runs ({n_fin} finished) from <code style="background:rgba(255,255,255,.15);'
        f'color:#fff">{e(str(Path(runs_dir)))}</code> · generated {e(generated)} · poolbench {e(__version__)}'
    )
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    # each replaced whole: a kill leaves the previous complete report, a planted link is refused
    atomic_write_text(html_path, _html(boards, figures, pictures, runs, skipped, subtitle, versus, across))
    atomic_write_text(md_path, _markdown(boards, figures, pictures, runs, img_dir, generated, runs_dir, versus, across))
    return html_path, md_path


VERSUS_COLUMNS = (
    "column",
    "protocol",
    "baseline",
    "difference",
    "95% CI",
    "p (Welch)",
    "n",
    "diverged",
    "detectable",
    "verdict",
)


def _versus_html(versus) -> str:
    if not versus:
        return (
            '<p class="note">Every pool with runs is a baseline (avg, max, gem, avgmax): nothing to compare '
            "with them.</p>"
        )
    blocks = []
    for a, res in versus.items():
        head = "".join(f"<th>{e(c)}</th>" for c in VERSUS_COLUMNS)
        body = "".join(
            "<tr>" + "".join(f'<td class="{e(c.split()[0])}">{e(r[c])}</td>' for c in VERSUS_COLUMNS) + "</tr>"
            for r in against_rows(res, plain(a))
        )
        # the verdict wraps and the table scrolls inside its card: the page keeps its width
        blocks.append(
            f'<h3>{e(plain(a))}</h3><div class="tablewrap"><table class="versus"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    return "".join(blocks)


def _versus_md(versus) -> list[str]:
    md = ["## Each pool vs every baseline", ""]
    if not versus:
        return md + ["Every pool with runs is a baseline: nothing to compare.", ""]
    for a, res in versus.items():
        md += [f"### {markdown(a)}", "", "| " + " | ".join(VERSUS_COLUMNS) + " |", "|" + "---|" * len(VERSUS_COLUMNS)]
        # the label is cut to its shown length first, so the plain sentence that names it stays whole
        md += [
            "| " + " | ".join(markdown(r[c], limit=10**4) for c in VERSUS_COLUMNS) + " |"
            for r in against_rows(res, plain(a))
        ]
        md.append("")
    return md


def _across_html(across) -> str:
    if not across:
        return '<p class="note">No section has two columns with two pools run in both.</p>'
    blocks = []
    for sec, res in across:
        rows = across_rows(res)
        blocks.append(
            f'<h3>{e(sec.title())}</h3><p class="note">columns: {e(", ".join(res["columns"]))}</p>'
            + _plain_table(list(rows[0]), [list(r.values()) for r in rows])
        )
    return "".join(blocks)


def _across_md(across) -> list[str]:
    md = ["## Across columns", ""]
    if not across:
        return md + ["No section has two columns with two pools run in both.", ""]
    md += [f"Interquartile mean and probability of improvement, {AGG_METHOD}; accuracies not normalised.", ""]
    for sec, res in across:
        rows = across_rows(res)
        md += [f"### {markdown(sec.title())}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        md += ["| " + " | ".join(markdown(v) for v in r.values()) + " |" for r in rows]
        md.append("")
    return md


def _html(boards, figures, pictures, runs, skipped, subtitle, versus=None, across=None) -> str:
    best = boards["best"]
    parts = []
    lead = (
        "".join(_section_html(s, "leaderboard" if i == 0 else None) for i, s in enumerate(best.sections))
        or '<p class="note">No runs yet.</p>'
    )
    parts.append(
        f'<section class="card" id="lb"><h2>Leaderboard — {e(best.metric_title)}</h2>'
        f'<p class="note">The benchmark\'s metric: best test accuracy over epochs, mean ± std over '
        f"seeds. Click a header to sort.</p>{lead}{_legend_html()}</section>"
    )
    parts.append(
        f'<section class="card" id="versus"><h2>Each pool vs every baseline</h2><p class="note">Per '
        f"column and protocol: the pool minus each baseline (avg, max, gem, avgmax), bootstrap 95% CI of the "
        f"difference, Welch p, seeds per side (<code>poolbench compare POOL</code>).</p>"
        f"{_versus_html(versus)}</section>"
    )
    parts.append(
        f'<section class="card" id="across"><h2>Across columns</h2><p class="note">Per protocol, the pools '
        f"with finished runs in every column: the interquartile mean of all their runs and the probability "
        f"of improvement over a reference pool (per column the share of run pairs where the pool is higher, "
        f"averaged over columns; Agarwal et al. 2021), with {e(AGG_METHOD)}. Accuracies are not normalised "
        f"across datasets: read the IQM between pools of one section only.</p>{_across_html(across)}</section>"
    )
    if shows_published(best):
        parts.append(
            f'<section class="card" id="published-ref"><h2>Published reference</h2>'
            f"{_published_html([c for sec in best.sections for c in sec.columns])}</section>"
        )
    charts = []
    for sec in best.sections:
        imgs = "".join(_img(png, f"{kind} {s.protocol_label}") for s, kind, _, png in figures if s is sec)
        charts.append(f'<h3>{e(sec.title())}</h3><div class="figrow">{imgs}</div>')
    parts.append(
        f'<section class="card" id="charts"><h2>Per-column comparison and learning curves</h2>'
        f'<p class="note">Bars: mean; whiskers: 95% CI of the mean (Student t); hatched: one seed; '
        f"gold edge: best; dashed: published. Dots: every finished run, a tick at the mean; red: the "
        f"cell's diverged runs. Detectable difference: the smallest difference a two-sided test detects "
        f"(alpha 0.05, power 0.8, normal approximation) with n seeds per pool, from each measured spread "
        f"(<code>poolbench plan</code>). Curves: test accuracy per epoch of finished runs, "
        f"mean over seeds, band ±1 std.</p>{''.join(charts)}</section>"
    )
    other = []
    for m in ("final", "val"):
        lb = boards[m]
        if lb.sections:
            other.append(
                f"<h3>{e(lb.metric_title[0].upper() + lb.metric_title[1:])}</h3>"
                + "".join(_section_html(s) for s in lb.sections)
            )
    if not boards["val"].sections:
        other.append(
            '<p class="note">No run used <code>--val-split</code>, so there is no test accuracy at the '
            "epoch of best validation accuracy.</p>"
        )
    parts.append(f'<section class="card" id="metrics"><h2>Other metrics</h2>{"".join(other)}</section>')
    if pictures:
        figs = []
        for r, name, path, png, why in pictures:
            if png is None:
                figs.append(
                    f"<figure><figcaption>{e(_caption(r, name))}: {e(why)}, not embedded; see "
                    f"<code>{e(str(path))}</code></figcaption></figure>"
                )
            else:
                figs.append(f"<figure>{_img(png, name, '')}<figcaption>{_caption_html(r, name)}</figcaption></figure>")
        parts.append(
            f'<section class="card" id="pictures"><h2>Pictures from the runs</h2><p class="note">'
            f"Files the runs left in their directories (e.g. learned pooling maps).</p>"
            f'<div class="gallery">{"".join(figs)}</div></section>'
        )
    parts.append(
        f'<section class="card" id="prov"><h2>Provenance</h2><p class="note">Every run behind every number: '
        f"commit, torch, device, date, wall time. Statistics: {e(CI_METHOD)} for differences (see "
        f'<code>poolbench compare</code>), Welch\'s t-test for "beats the runner-up".</p>'
        f"{_provenance_html(runs, skipped)}</section>"
    )
    nav = "".join(
        f'<a href="#{i}">{t}</a>'
        for i, t in (
            ("lb", "Leaderboard"),
            ("versus", "vs baselines"),
            ("across", "Across columns"),
            ("published-ref", "Published"),
            ("charts", "Charts"),
            ("metrics", "Other metrics"),
            ("pictures", "Pictures"),
            ("prov", "Provenance"),
        )
        if (i != "pictures" or pictures) and (i != "published-ref" or shows_published(best))
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>poolbench report</title><style>{CSS}</style>'
        f"</head><body><header><h1>poolbench — global pooling benchmark</h1><p>{subtitle}</p><nav>{nav}</nav>"
        f"</header><main>{''.join(parts)}</main><script>{JS}</script></body></html>\n"
    )


#: the Markdown twin's figure sections: (figure kind, heading, note)
FIGURE_SECTIONS_MD = (
    (
        "bars",
        "Per-column comparison",
        "Bars: mean; whiskers: 95% CI of the mean (Student t); hatched: one seed; dashed: published.",
    ),
    ("spread", "The spread of every pool", "Dots: every finished run; red: the cell's diverged runs."),
    (
        "detectable",
        "Smallest detectable difference against seeds",
        "Two-sided, alpha 0.05, power 0.8, normal approximation, n seeds per pool (`poolbench plan`).",
    ),
    ("profile", "Performance profiles across columns", "Fraction of runs above each accuracy, 95% stratified band."),
    ("curves", "Learning curves", ""),
)


def _markdown(
    boards, figures, pictures, runs, img_dir: Path, generated: str, runs_dir, versus=None, across=None
) -> str:
    md = [
        "# poolbench report",
        "",
        f"{len(runs)} runs from `{plain(runs_dir).replace('`', '')}`, generated {generated}.",
        "",
        "## Leaderboard",
        "",
        render_md(boards["best"], heading="###"),
    ]
    md += _versus_md(versus)
    md += _across_md(across)
    for m in ("final", "val"):
        if boards[m].sections:
            md += [
                f"## {boards[m].metric_title[0].upper() + boards[m].metric_title[1:]}",
                "",
                render_md(boards[m], heading="###", published=False),
            ]
    for kind, heading, note in FIGURE_SECTIONS_MD:
        md += [f"## {heading}", "", note, ""] if note else [f"## {heading}", ""]
        md += [f"![{markdown(s.title())}](img/{f})\n" for s, k, f, _ in figures if k == kind]
    if pictures:
        md += ["## Pictures from the runs", ""]
        runs_img = img_dir / "runs"
        make_folder(runs_img)
        for r, name, _path, png, why in pictures:
            caption = markdown(_caption(r, name))
            if png is None:
                md.append(f"{caption}: {why}, not copied\n")
                continue
            target = runs_img / safe_file_name(f"{r['run_id']}-{name}")  # never a path out of img/runs
            atomic_write_bytes(target, png)
            md.append(f"![{caption}](img/runs/{target.name})  \n{caption}\n")
    md += [
        "## Provenance",
        "",
        "| " + " | ".join(t for _, t in PROVENANCE_FIELDS) + " |",
        "|" + "---|" * len(PROVENANCE_FIELDS),
    ]
    md += ["| " + " | ".join(markdown(_fmt(r[k], k)) for k, _ in PROVENANCE_FIELDS) + " |" for r in runs]
    md += ["", f'Statistics: {CI_METHOD} for differences; Welch\'s t-test for "beats the runner-up". {LEGEND}', ""]
    return "\n".join(md)
