"""A SQLite index (stdlib ``sqlite3``) rebuilt from the run directories.

The run directories are the truth (formats in docs/ARCHITECTURE.md); the index is a disposable
view of them, rebuilt from scratch every time so it can never drift. Two tables:

- ``runs``   one row per run directory (config + result + provenance, see ``RUN_COLUMNS``)
- ``epochs`` one row per finished epoch from ``metrics.jsonl``
- ``skipped`` run directories that could not be read, with the reason

A run without ``result.json`` is still training (or was killed): status ``unfinished``, no
accuracies. A run with unreadable JSON (half-written, garbage) is skipped with a warning; one
bad directory never stops the index.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..fileio import remove_stale_temps, replacing
from ..runs import RUNS_ENV, load_run
from ..train.config import RESNET_INIT_VERSION, init_version_of
from ..train.label import pool_label
from .safe_text import plain

PathLike = str | Path

RUN_COLUMNS = (
    ("run_id", "TEXT PRIMARY KEY"),
    ("model", "TEXT"),
    ("dataset", "TEXT"),
    ("column_key", "TEXT"),  # f"{model}-{dataset}" (+ "@fingerprint" when two datasets would share it)
    ("data_fingerprint", "TEXT"),  # what the run trained on (schema 2); None for unmigrated old runs
    ("pool_file", "TEXT"),  # a user's pool: "/abs/path.py:Class"; its sha256 is in the label
    ("pool", "TEXT"),  # the row label: pool name + arguments + variant, e.g. "gem(p=2)"
    ("pool_name", "TEXT"),
    ("pool_args", "TEXT"),  # JSON
    ("pool_1x1", "TEXT"),  # JSON {"relation", "same_as_identity"}: the 1x1 probe when the run started
    (
        "surgery",
        "INTEGER",
    ),  # 1: model arguments, paper surgery, SAC heads or a pool regulariser change more than the pool
    ("seed", "INTEGER"),
    ("protocol_label", "TEXT"),
    ("standard", "INTEGER"),
    ("status", "TEXT"),  # finished | diverged | failed | unfinished
    ("best_test_acc", "REAL"),
    ("best_epoch", "INTEGER"),
    ("final_test_acc", "REAL"),
    ("test_acc_at_best_val", "REAL"),
    ("epochs_completed", "INTEGER"),
    ("epochs_planned", "INTEGER"),
    ("diverged_at_epoch", "INTEGER"),
    ("error", "TEXT"),
    ("git_commit", "TEXT"),
    ("torch_version", "TEXT"),
    ("device", "TEXT"),
    ("wall_time_s", "REAL"),
    ("date", "TEXT"),
    ("hostname", "TEXT"),
    ("poolbench_version", "TEXT"),
    ("images", "TEXT"),  # JSON list of *.png file names in the run directory
    ("path", "TEXT"),
)
EPOCH_COLUMNS = ("run_id", "epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "val_acc", "epoch_time_s")


def _num(v: Any) -> float | None:
    """A finite float or None (NaN/inf accuracies of a broken run must not enter means)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _pool_1x1(recorded: Any) -> str | None:
    """The recorded 1x1 probe as JSON, or None unless it has the shape the recorder writes."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("same_as_identity"), bool):
        return None
    return json.dumps({"relation": str(recorded.get("relation")), "same_as_identity": recorded["same_as_identity"]})


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run directory as (runs row, epoch rows). Raises ValueError/OSError when unreadable."""
    run = load_run(run_dir)
    config, result, metrics = run.config, run.result, run.metrics
    run_id = config.get("run_id") or run_dir.name
    res = result or {}
    prov = res.get("provenance") or {}
    model, dataset = config.get("model"), config.get("dataset")
    row = {
        "run_id": run_id,
        "model": model,
        "dataset": dataset,
        "column_key": f"{model}-{config.get('data_label') or dataset}",
        "data_fingerprint": config.get("data_fingerprint"),
        "pool_file": config.get("pool_file"),
        "pool": pool_label(config),
        "pool_name": config.get("pool"),
        "pool_args": json.dumps(config.get("pool_args") or {}, sort_keys=True),
        "pool_1x1": _pool_1x1(config.get("pool_1x1")),
        "surgery": int(
            bool(config.get("model_args") or config.get("surgery"))
            or config.get("sac") is not None
            or config.get("pool_reg") is not None
        ),
        "seed": config.get("seed"),
        "protocol_label": config.get("protocol_label") or "unknown",
        "standard": int(bool(config.get("standard"))),
        "status": res.get("status") or "unfinished",
        "best_test_acc": _num(res.get("best_test_acc")),
        "best_epoch": res.get("best_epoch"),
        "final_test_acc": _num(res.get("final_test_acc")),
        "test_acc_at_best_val": _num(res.get("test_acc_at_best_val")),
        # an unfinished run's progress comes from its metrics
        "epochs_completed": res.get("epochs_completed", len(metrics)),
        "epochs_planned": (config.get("protocol") or {}).get("epochs"),
        "diverged_at_epoch": res.get("diverged_at_epoch"),
        "error": res.get("error"),
        "git_commit": prov.get("git_commit"),
        "torch_version": prov.get("torch_version"),
        "device": prov.get("device"),
        "wall_time_s": _num(prov.get("wall_time_s")),
        "date": prov.get("date"),
        "hostname": prov.get("hostname"),
        "poolbench_version": prov.get("poolbench_version"),
        # regular files only: a run directory's *.png may be a symlink to anything (report re-checks)
        "images": json.dumps(
            sorted(
                p.name
                for p in run_dir.glob("*.png")
                if not p.name.startswith(".") and not p.is_symlink() and p.is_file()
            )
        ),
        "path": str(run_dir.resolve()),
    }
    row["_config"] = config  # for disambiguate(); not a column
    epochs = [{"run_id": run_id, **{k: m.get(k) for k in EPOCH_COLUMNS[1:]}} for m in metrics]
    for rec in [row, *epochs]:  # checked here so that an insert can never fail half-way
        bad = [k for k, v in rec.items() if k != "_config" and not _sqlite_value(v)]
        if bad:
            raise ValueError(
                f"field(s) {', '.join(bad)} hold neither a number SQLite can store (64-bit) nor UTF-8 text"
            )
    return row, epochs


def _sqlite_value(v: Any) -> bool:
    """Whether SQLite stores ``v`` as it is: None, a float, an integer of 64 bits, text that is
    UTF-8 (JSON's ``\\ud800`` escape gives a lone surrogate, which is not)."""
    if isinstance(v, str):
        return _utf8(v) == v
    if isinstance(v, int):
        return -(2**63) <= v < 2**63
    return v is None or isinstance(v, float)


def _utf8(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates, also from non-UTF-8 file names)
    written as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def disambiguate(rows: list[dict[str, Any]]) -> None:
    """Make labels that would merge different things distinct, in place.

    - Two pool files with the same name, class and content at different paths: their row labels
      carry the whole path.
    - ResNet runs of two initialisations under one column name in one protocol section: the
      runs of an older one carry its version, ``resnet20-cifar10@init-v1`` (``train.config.RESNET_INITS``).
    - Two datasets under one column name in one protocol section (another image folder, another
      copy): the column carries the data fingerprint, ``resnet20-imagefolder@3f2a``. Old runs
      without a fingerprint (schema 1) cannot be told apart and keep the plain column.
    """
    paths: dict[str, set] = {}
    for r in rows:
        if r.get("pool_file"):
            paths.setdefault(r["pool"], set()).add(str(r["pool_file"]).rpartition(":")[0])
    for r in rows:
        if r.get("pool_file") and len(paths[r["pool"]]) > 1:
            r["pool"] = pool_label(r["_config"], full_path=True)
    inits: dict[tuple[str, str], set] = {}
    for r in rows:
        inits.setdefault((r["protocol_label"], r["column_key"]), set()).add(init_version_of(r["_config"]))
    for r in rows:
        version = init_version_of(r["_config"])
        if version not in (None, RESNET_INIT_VERSION) and len(inits[(r["protocol_label"], r["column_key"])]) > 1:
            r["column_key"] += f"@init-v{version}"
    prints: dict[tuple[str, str], set] = {}
    for r in rows:
        if r.get("data_fingerprint"):
            prints.setdefault((r["protocol_label"], r["column_key"]), set()).add(r["data_fingerprint"])
    for r in rows:
        if r.get("data_fingerprint") and len(prints[(r["protocol_label"], r["column_key"])]) > 1:
            r["column_key"] += "@" + r["data_fingerprint"][:4]


def _create_schema(conn: sqlite3.Connection) -> None:
    cols = ", ".join(f'"{name}" {kind}' for name, kind in RUN_COLUMNS)
    conn.execute(f"CREATE TABLE runs ({cols})")
    conn.execute(
        "CREATE TABLE epochs (run_id TEXT, epoch INTEGER, lr REAL, train_loss REAL, "
        "train_acc REAL, test_loss REAL, test_acc REAL, val_acc REAL, epoch_time_s REAL, "
        "PRIMARY KEY (run_id, epoch))"
    )
    conn.execute("CREATE TABLE skipped (path TEXT, reason TEXT)")


class IndexWriteError(OSError):
    """The index could not be written (a full disk, a read-only folder); the message says so."""


def _fallback_db_path(runs_dir: Path) -> Path:
    """Where the index of a runs directory we cannot write into lives: a per-directory file in the
    temporary folder (the index is disposable, rebuilt on every read)."""
    import hashlib

    key = hashlib.sha1(str(runs_dir.resolve()).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"poolbench-index-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.sqlite"


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permissions, read-only mounts and root all
    answer it; a probe a kill leaves behind has the temporary files' name and is removed next time)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".index.sqlite.", suffix=".tmp")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _fill(conn: sqlite3.Connection, runs_dir: Path) -> None:
    """Every run directory of ``runs_dir`` into a fresh index; unreadable ones into ``skipped``."""
    _create_schema(conn)
    names = [n for n, _ in RUN_COLUMNS]
    insert_run = f"INSERT INTO runs VALUES ({','.join('?' * len(names))})"
    insert_epoch = f"INSERT OR REPLACE INTO epochs VALUES ({','.join('?' * len(EPOCH_COLUMNS))})"
    seen = set()
    read = []
    for run_dir in sorted(p.parent for p in runs_dir.glob("*/config.json")):
        try:
            row, epochs = read_run(run_dir)
            if row["run_id"] in seen:
                raise ValueError(f"run id {row['run_id']} appears in two directories")
        except (ValueError, OSError, RecursionError) as e:
            # half-written or garbage files (RunFileError is a ValueError), links, FIFOs and
            # oversized files (fileio), results that are not a result (runs.result_problem),
            # values SQLite cannot hold: this run only
            where, why = _utf8(str(run_dir)), _utf8(str(e))
            warnings.warn(f"skipping unreadable run {plain(where)}: {plain(why, 400)}", stacklevel=3)
            conn.execute("INSERT INTO skipped VALUES (?, ?)", (where, why))
            continue
        seen.add(row["run_id"])
        read.append((row, epochs))
    disambiguate([row for row, _ in read])
    for row, epochs in read:
        conn.execute(insert_run, [row[n] for n in names])
        conn.executemany(insert_epoch, [[e[n] for n in EPOCH_COLUMNS] for e in epochs])


def build_index(runs_dir: PathLike, db_path: PathLike | None = None) -> sqlite3.Connection:
    """Scan ``runs_dir/*/config.json`` and (re)build the index; return a connection to it.

    The database (default ``runs_dir/index.sqlite``; in the temporary folder when ``runs_dir`` is
    read-only) is written to a temporary file and renamed over the old one (``fileio.replacing``),
    so a reader never sees half an index, a killed rebuild leaves the old one, and two concurrent
    rebuilds are safe; the temporary files a killed rebuild left are deleted by the next one. A
    full disk is an ``IndexWriteError`` saying so. Rows come back as ``sqlite3.Row``.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs directory {str(runs_dir)!r} not found; pass --runs-dir or set ${RUNS_ENV}")
    if db_path:
        db_path = Path(db_path)
    else:
        db_path = runs_dir / "index.sqlite"
        if not _can_create_in(runs_dir):  # a read-only runs directory (a colleague's, a mounted archive)
            db_path = _fallback_db_path(runs_dir)
    remove_stale_temps(db_path.parent, prefix=f".{db_path.name}.")
    try:
        with replacing(db_path) as (tmp, _):
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode=OFF")  # no journal file to leave behind: the index is disposable
                _fill(conn, runs_dir)
                conn.commit()
            finally:
                conn.close()
    except (sqlite3.Error, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise IndexWriteError(
            f"cannot write the index {db_path} ({' '.join(str(e).split()) or type(e).__name__}): free some "
            f"space or make its folder writable, then run the command again (the run directories are untouched)"
        ) from None
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    return conn
