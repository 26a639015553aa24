"""Sweeps: a grid of runs (pools x models x datasets x seeds) handed to an executor.

    configs = expand_grid(["avg", "gem"], ["resnet20"], ["synthetic"], parse_seeds("0-1"),
                          Protocol(epochs=2, train_subset=256, test_subset=128))
    summary = run_sweep(configs, "runs")                      # in-process, the default
    summary = run_sweep(configs, "/shared/runs", create_executor("ray", address="auto"))  # poolbench.executors

A run is identified by its ``run_id`` and lives in ``runs_dir/<run_id>/``, so a sweep is
idempotent: finished (or diverged) runs are skipped up-front, unfinished ones resume from their
last checkpoint (the engine does that), failed ones are tried again. Workers write only their
run directories; the driver rebuilds the results index at the end.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

__all__ = ["SUITES", "expand_grid", "expand_suite", "parse_seeds", "run_status", "run_sweep"]
from .executors.protocol import HELD
from .results import index as results_index
from .runs import DONE_STATUSES, RunDir
from .suites import SUITES, get_suite
from .train.config import RunConfig, pool_fields
from .train.protocol import Protocol

if TYPE_CHECKING:
    from .executors import Executor

MAX_SEEDS = 10_000  # a longer seed list is a typo, not a plan (and a grid too large to list)


def parse_seeds(spec: str, limit: int = MAX_SEEDS) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5' -> [0, 2, 5]; mixed '0-2,7' works too. Order kept, no repeats.

    More than ``limit`` distinct seeds is refused before any list of them is built."""
    seeds: dict[int, None] = {}  # an ordered set: linear, where a list's `in` made '0-100000000' hang
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if dash else (int(part), int(part))
        except ValueError:
            raise ValueError(f"bad seed spec {spec!r}: use '0-4' or '0,2,5' (non-negative integers)") from None
        if last < first:
            raise ValueError(f"bad seed range {part!r}: the end is below the start")
        if last - first + 1 > limit:
            raise ValueError(f"bad seed spec {spec!r}: more than {limit} seeds; give fewer (e.g. 0-4)")
        seeds.update(dict.fromkeys(range(first, last + 1)))
        if len(seeds) > limit:
            raise ValueError(f"bad seed spec {spec!r}: more than {limit} seeds; give fewer (e.g. 0-4)")
    if not seeds:
        raise ValueError(f"bad seed spec {spec!r}: no seeds")
    return list(seeds)


def expand_grid(
    pools: Sequence[str],
    models: Sequence[str],
    datasets: Sequence[str],
    seeds: Iterable[int],
    protocol: Protocol | None = None,
    pool_args: dict[str, dict[str, Any]] | None = None,
    **common: Any,
) -> list[RunConfig]:
    """Every (model, dataset) pair crossed with every pool and seed."""
    return _expand(list(itertools.product(models, datasets)), pools, seeds, protocol, pool_args, **common)


def expand_suite(
    suite: str,
    pools: Sequence[str],
    seeds: Iterable[int],
    protocol: Protocol | None = None,
    pool_args: dict[str, dict[str, Any]] | None = None,
    **common: Any,
) -> list[RunConfig]:
    """A named suite's (model, dataset) cells (``suites.py``; not their product) crossed with pools and seeds."""
    return _expand(list(get_suite(suite).columns), pools, seeds, protocol, pool_args, **common)


def _expand(cells, pools, seeds, protocol, pool_args, **common) -> list[RunConfig]:
    """Configs in a stable order (cell, pool, seed), deduplicated (equal configs, equal runs).

    ``pool_args`` maps a pool name to its keyword arguments; the key ``"*"`` applies to every
    pool (a pool's own entry wins), so ``{"gem": {"p": 4}}`` leaves avg and max untouched.
    """
    pool_args = pool_args or {}
    protocol = protocol or Protocol()
    seeds = list(seeds)
    out: dict[str, RunConfig] = {}
    fields = {pool: pool_fields(pool) for pool in pools}  # a user's file: its resolved path
    for (model, dataset), pool in itertools.product(cells, pools):
        args = {**pool_args.get("*", {}), **pool_args.get(pool, {})}
        for seed in seeds:
            cfg = RunConfig(
                model=model, dataset=dataset, pool_args=args, seed=seed, protocol=protocol, **fields[pool], **common
            )
            out.setdefault(json.dumps(cfg.to_dict(), sort_keys=True, default=str), cfg)
    return list(out.values())


def run_status(config: RunConfig, runs_dir) -> str:
    """'done' (finished/diverged), 'failed' (will be retried), 'resume' (has a checkpoint), 'new', or
    'no data' (its dataset is not here, so its run id is unknown; nothing is downloaded to find out)."""
    from .data import DataError
    from .train.resolve import resolve

    try:
        config = resolve(config, download=False)
    except DataError:
        return "no data"
    rd = RunDir(runs_dir, config.run_id)
    result = rd.read_result()
    if result and result.get("status") in DONE_STATUSES:
        return "done"
    if result:
        return "failed"
    return "resume" if rd.checkpoint.exists() else "new"


@dataclass
class SweepSummary:
    """What a sweep did. ``results`` maps every run_id of the grid to its result dict."""

    total: int = 0
    done_before: list[str] = field(default_factory=list)  # run ids already done before the sweep started
    finished: int = 0
    diverged: int = 0
    failed: int = 0
    held: int = 0  # being trained by another live process: not this sweep's to report yet
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        """How many runs were already done before the sweep started (not trained again)."""
        return len(self.done_before)

    def problems(self) -> list[dict[str, Any]]:
        """Results of this grid that are not plain finished runs (diverged, failed, or held elsewhere)."""
        return [r for r in self.results.values() if r.get("status") != "finished"]

    def __str__(self) -> str:
        held = f", {self.held} held by other processes" if self.held else ""
        return (
            f"{self.total} runs: {self.skipped} skipped (already done), {self.finished} finished, "
            f"{self.diverged} diverged, {self.failed} failed{held}"
        )


def run_sweep(
    configs: Sequence[RunConfig], runs_dir, executor: Executor | None = None, index: bool = True
) -> SweepSummary:
    """Run every config not yet done on ``executor`` and return a summary; never raises for a single
    run's failure (unless the executor was built to stop on one).

    ``executor`` defaults to the local one with its defaults (``executors.create_executor`` builds
    one by name with its options: ``pack``, ``progress``, ``address``, ...); it groups the runs into
    tasks with the one pack planner, ``train.packing.plan_packs``. ``poolbench run``, ``sweep`` and
    the reproductions all train through here. ``index``: rebuild the runs directory's results
    index at the end (a grid's driver does; ``poolbench run`` leaves it to the commands that read).
    Each config is resolved first (``train.resolve``: its data is read, an official archive
    downloaded if missing); ``results`` is keyed by the resolved run ids.
    """
    from .train.resolve import resolve

    if executor is None:
        from .executors.local import LocalExecutor

        executor = LocalExecutor()
    runs_dir = Path(runs_dir).resolve()  # workers may run elsewhere: never hand them a relative path
    configs = list({c.run_id: c for c in map(resolve, configs)}.values())  # reads (or downloads) the data
    summary = SweepSummary(total=len(configs))
    todo = []
    for cfg in configs:
        result = RunDir(runs_dir, cfg.run_id).read_result()
        if result and result.get("status") in DONE_STATUSES:
            summary.done_before.append(cfg.run_id)
            summary.results[cfg.run_id] = result
        else:
            todo.append(cfg)

    if todo:
        results = executor.run(todo, str(runs_dir))
        counts = Counter(r.get("status", "failed") for r in results.values())
        summary.finished, summary.diverged, summary.held = counts["finished"], counts["diverged"], counts[HELD]
        summary.failed = len(results) - summary.finished - summary.diverged - summary.held
        summary.results.update(results)
    # Keep the grid's order in the results, whatever order the executor finished in.
    summary.results = {c.run_id: summary.results[c.run_id] for c in configs}
    if index:
        _rebuild_index(runs_dir)
    return summary


def _rebuild_index(runs_dir: Path) -> None:
    """The driver, and only it, rebuilds the results index.

    The run directories are the truth and the index is derived from them, so a failure here is
    a warning: the sweep's results are safe on disk and ``build_index`` can be run again.
    """
    try:
        conn = results_index.build_index(runs_dir)
        if hasattr(conn, "close"):
            conn.close()
    except Exception as e:  # noqa: BLE001 - see docstring
        warnings.warn(f"results index not rebuilt for {runs_dir}: {type(e).__name__}: {e}", stacklevel=2)
