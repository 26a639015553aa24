"""Bring run directories written before config schema 2 up to date (``data_fingerprint`` in the id).

    python -m poolbench.train.migrate RUNS_DIR [RUNS_DIR ...] [--dry-run]

For each run directory whose ``config.json`` has no ``data_fingerprint``: recompute the run's
identity as it was (and refuse if that does not give back the stored run id, which would mean the
config cannot be trusted to describe the run), fingerprint the data the config names (the data must
be present), write the new config (schema 2, fingerprint, new run id), the new run id into
``result.json``, and rename the directory to the new id. Nothing is changed on any failure.
Unmigrated directories stay readable (the index treats them as schema 1: data not fingerprinted).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..runs import atomic_write_json
from .config import CONFIG_SCHEMA, RunConfig


def migrate_run(run_dir: Path, dry_run: bool = False) -> tuple[str, str | None]:
    """(status, new run id): 'migrated', 'current' (already schema 2) or 'refused: <why>'."""
    raw = json.loads((run_dir / "config.json").read_text())
    if raw.get("data_fingerprint"):
        return "current", raw.get("run_id")
    config = RunConfig.from_dict(raw)
    stored = raw.get("run_id") or run_dir.name
    try:
        new_id = config.run_id  # fingerprints the data
    except Exception as exc:  # noqa: BLE001 - reported per run, the rest go on
        return f"refused: data not readable ({type(exc).__name__}: {exc})", None
    if config.run_id_for(schema=1) != stored:
        return f"refused: this config does not give back its stored run id {stored}", None
    target = run_dir.parent / new_id
    if target.exists() and target != run_dir:
        return f"refused: {target} exists", None
    if dry_run:
        return "migrated", new_id
    config_d = config.to_dict()
    config_d.update(
        {k: raw[k] for k in ("protocol_label", "standard") if k in raw},
        run_id=new_id,
        schema=CONFIG_SCHEMA,
        migrated_from=stored,
    )
    atomic_write_json(run_dir / "config.json", config_d)
    result_path = run_dir / "result.json"
    if result_path.exists():
        result = json.loads(result_path.read_text())
        result["run_id"] = new_id
        atomic_write_json(result_path, result)
    run_dir.rename(target)
    return "migrated", new_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m poolbench.train.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("runs_dirs", nargs="+")
    ap.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    args = ap.parse_args(argv)
    refused = 0
    for runs_dir in args.runs_dirs:
        for cfg_path in sorted(Path(runs_dir).glob("*/config.json")):
            status, new_id = migrate_run(cfg_path.parent, args.dry_run)
            refused += status.startswith("refused")
            print(f"{status:9s} {cfg_path.parent.name}" + (f" -> {new_id}" if status == "migrated" else ""))
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
