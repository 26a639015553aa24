"""Bring run directories written before config schema 2 up to date (``data_fingerprint`` in the id).

    python -m poolbench.train.migrate RUNS_DIR [RUNS_DIR ...] [--dry-run]

For each run directory whose ``config.json`` has no ``data_fingerprint``: recompute the run's
identity as it was (and refuse if that does not give back the stored run id, which would mean the
config cannot be trusted to describe the run), fingerprint the data the config names (the data must
be present), write the new config (schema 2, fingerprint, new run id), the new run id into
``result.json``, and rename the directory to the new id. A schema-2 pool-file run whose id has the
class-only prefix (``...-file-CustomPool-...``, from before ids named the file) is renamed to the id
with the file's stem (``...-file-my_pool-CustomPool-...``; the hash is the same), so the run is
found, skipped or resumed again.

Every run is planned before anything is written: a run that cannot be migrated (its config or
result unreadable, its id not given back, its target taken or outside its runs directory) is named
on one line and then nothing is changed at all; a write that fails half-way undoes the runs already
moved. Unmigrated directories stay readable (the index treats them as schema 1: data not fingerprinted).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runs import (
    RunDir,
    RunFileError,
    atomic_write_bytes,
    atomic_write_json,
    is_run_id,
    read_bytes_or_none,
    read_json,
    result_problem,
)
from .config import CONFIG_SCHEMA, RunConfig
from .resolve import resolve


class Refused(ValueError):
    """Why one run directory cannot be migrated (nothing is changed)."""


@dataclass
class Move:
    """One planned migration: the new config and result, and what is needed to undo it."""

    source: Path
    target: Path
    config: dict[str, Any]
    result: dict[str, Any] | None
    old_config: bytes
    old_result: bytes | None

    def apply(self) -> None:
        """Rename first, then rewrite: a kill in between leaves a directory named by its new id whose
        config still gives back its old one, which the next migration finishes."""
        if self.source != self.target:
            self.source.rename(self.target)
        try:
            atomic_write_json(self.target / "config.json", self.config)
            if self.result is not None:
                atomic_write_json(self.target / "result.json", self.result)
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        atomic_write_bytes(self.target / "config.json", self.old_config)
        if self.old_result is not None:
            atomic_write_bytes(self.target / "result.json", self.old_result)
        if self.source != self.target:
            self.target.rename(self.source)


def plan_run(run_dir: Path) -> Move | None:
    """The migration of ``run_dir`` (None when it is current already); Refused saying why not."""
    if run_dir.is_symlink():
        raise Refused("is a symbolic link; migrate the directory it points to")
    run = RunDir(run_dir.parent, run_dir.name)
    try:
        raw = run.read_config()
        if raw is None:
            raise Refused("has no config.json")
        if raw.get("data_fingerprint") and not _class_only_pool_file_id(raw, run_dir):
            return None
        old_config = read_bytes_or_none(run.config)  # regular files under a cap: never a FIFO's hang
        old_result = read_bytes_or_none(run.result)
        if old_config is None:
            raise Refused("has no config.json")
    except (RunFileError, OSError) as exc:
        raise Refused(str(exc)) from None
    config, stored, new_id = _identity(raw, run_dir)
    target = run_dir.parent / new_id
    if not is_run_id(new_id) or target.resolve().parent != run_dir.parent.resolve():
        raise Refused(f"the new run id {new_id!r} is not a directory name inside {run_dir.parent}")
    if target != run_dir and (target.exists() or target.is_symlink()):
        raise Refused(f"{target} exists")
    new_config = config.to_dict()
    new_config.update(
        {k: raw[k] for k in ("protocol_label", "standard", "column_origin") if k in raw},
        run_id=new_id,
        schema=CONFIG_SCHEMA,
        migrated_from=stored,
    )
    result = None if old_result is None else _checked_result(run, stored, raw)
    if result is not None:
        result = {**result, "run_id": new_id}
    return Move(run_dir, target, new_config, result, old_config, old_result)


def _class_only_pool_file_id(raw: dict[str, Any], run_dir: Path) -> bool:
    """Whether a schema-2 config is a pool-file run stored under the class-only id prefix."""
    try:
        config = RunConfig.from_dict(raw)
        return bool(config.pool_file) and config.run_id_for(file_stem=False) == (raw.get("run_id") or run_dir.name)
    except (TypeError, ValueError, AttributeError):
        return False  # not this migration's case: the readers name what is wrong with it


def _identity(raw: dict[str, Any], run_dir: Path) -> tuple[RunConfig, str, str]:
    """(resolved config, stored run id, new run id) of a schema-1 config, or of a schema-2 one under
    the class-only pool-file prefix; Refused when the config does not give back the id it is stored
    under (either prefix)."""
    stored = raw.get("run_id") or run_dir.name
    schema = CONFIG_SCHEMA if raw.get("data_fingerprint") else 1
    try:
        # a field the stored config lacks (a sha256 written before it was recorded) is read from
        # the file as it is now; the data is looked at only once the stored id is given back
        config = resolve(RunConfig.from_dict(raw), data=False)
        given_back = {config.run_id_for(schema=schema), config.run_id_for(schema=schema, file_stem=False)}
    except (TypeError, ValueError, AttributeError, OSError) as exc:
        raise Refused(f"config.json does not describe a run ({type(exc).__name__}: {exc})") from None
    if stored not in given_back:
        raise Refused(f"this config does not give back its stored run id {stored}")
    try:
        config = resolve(config)  # fingerprints the data
        new_id = config.run_id
    except Exception as exc:  # noqa: BLE001 - reported per run, nothing changed
        raise Refused(f"data not readable ({type(exc).__name__}: {exc})") from None
    if run_dir.name not in (stored, new_id):  # new_id: a migration killed between rename and rewrite
        raise Refused(f"config.json names run id {stored}, but its directory is {run_dir.name}")
    return config, stored, new_id


def _checked_result(run: RunDir, stored: str, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The run's result.json, checked as every reader checks it (against the old id, which it still
    holds); Refused naming it when it is not a result."""
    try:
        result = read_json(run.result)
    except (RunFileError, OSError) as exc:
        raise Refused(str(exc)) from None
    problem = None if result is None else result_problem(result, stored, raw)
    if problem is not None:
        raise Refused(f"{run.result} {problem}")
    return result


def migrate_run(run_dir: Path, dry_run: bool = False) -> tuple[str, str | None]:
    """(status, new run id) of one directory: 'migrated', 'current' (already schema 2) or 'refused: <why>'."""
    try:
        move = plan_run(run_dir)
    except Refused as exc:
        return f"refused: {exc}", None
    if move is None:
        return "current", run_dir.name
    if not dry_run:
        move.apply()
    return "migrated", move.target.name


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m poolbench.train.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("runs_dirs", nargs="+")
    ap.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    args = ap.parse_args(argv)
    missing = [d for d in args.runs_dirs if not Path(d).is_dir()]
    if missing:
        print(f"{ap.prog}: error: {missing[0]!r} is not a runs directory; name one that exists", file=sys.stderr)
        return 2
    moves, refused = plan_all([Path(d) for d in args.runs_dirs])
    for run_dir, why in refused:
        print(f"refused   {run_dir.name}: {_one_line(why)}")
    if refused:
        print(f"nothing changed: {len(refused)} run(s) refused; move them away or fix them, then run again")
        return 1
    if not args.dry_run:
        try:
            apply_all(moves)
        except (OSError, RunFileError) as exc:
            print(f"{ap.prog}: error: {_one_line(str(exc))}; nothing changed", file=sys.stderr)
            return 1
    for move in moves:
        print(f"{'would migrate' if args.dry_run else 'migrated':9s} {move.source.name} -> {move.target.name}")
    return 0


def plan_all(runs_dirs: list[Path]) -> tuple[list[Move], list[tuple[Path, str]]]:
    """The migrations of every run directory under ``runs_dirs``, and the runs refused (with why);
    two runs that would become one directory are both refused."""
    moves: list[Move] = []
    refused: list[tuple[Path, str]] = []
    for runs_dir in runs_dirs:
        for run_dir in sorted(p.parent for p in runs_dir.glob("*/config.json")):
            try:
                move = plan_run(run_dir)
            except Refused as exc:
                refused.append((run_dir, str(exc)))
                continue
            if move is None:
                print(f"current   {run_dir.name}")
            else:
                moves.append(move)
    taken = Counter(m.target.resolve() for m in moves)
    for m in [m for m in moves if taken[m.target.resolve()] > 1]:
        moves.remove(m)
        refused.append((m.source, f"another run directory would also become {m.target.name}"))
    return moves, refused


def apply_all(moves: list[Move]) -> None:
    """Apply every move, or none: a failure undoes the moves already made, then re-raises."""
    done: list[Move] = []
    try:
        for move in moves:
            move.apply()  # undoes itself when it fails
            done.append(move)
    except BaseException:
        for move in reversed(done):
            move.undo()
        raise


if __name__ == "__main__":
    sys.exit(main())
