"""Published runs of the benchmark, as data with their provenance (never mixed into our cells).

Two sources (``SOURCES``; ``compare --published benchmark|rerun`` picks one):

- ``benchmark``: the public leaderboard of the MLS-Bench task "cv-pooling-aggregation" (GitHub
  ``Imbernoulli/mls-bench-website``, ``public/data/leaderboards/cv-pooling-aggregation.json``, data
  update of 2026-04-05): best-epoch test accuracy (%) under the standard protocol (see
  ``poolbench.train.protocol``), every baseline at seeds 42, 123 and 456. The seed document's table
  shows only the seed-42 row.
- ``rerun``: a public third-party copy of the task's leaderboard (GitHub
  ``XinghanLi66/autoresearch_idea_harness``, ``tasks/cv-pooling-aggregation/leaderboard.csv``, rows
  dated 2026-07-17): the three baselines rerun at seeds 1, 2, 3 on the VGG-16-BN column only, with
  per-run elapsed seconds (the three seeds ran at the same time on shared, unstated hardware, so
  they are not speeds). Its seed-42 rows are the benchmark's numbers, so they are not repeated here.

A published run is only a number, so its divergence is read from it: an accuracy at chance is a
collapse (``divergence.is_collapse``) and counts as diverged, never as an accuracy (three of the
rerun's nine runs ended at 1.0% on CIFAR-100). One place, so a typo is fixed once;
``tests/results/test_published.py`` checks every number against the files where they are present.
"""

from __future__ import annotations

from dataclasses import dataclass

from .divergence import DivergenceCount, is_collapse
from .stats import summarize

SOURCE = (
    "MLS-Bench cv-pooling-aggregation public leaderboard (Imbernoulli/mls-bench-website, "
    "public/data/leaderboards/cv-pooling-aggregation.json, data update 2026-04-05)"
)
METRIC = "best-epoch test accuracy (%), standard protocol"

# The benchmark's columns as it labels them, in its order.
BENCHMARK_COLUMNS = ("resnet56-cifar100", "vgg16bn-cifar100", "mobilenetv2-fmnist")

#: The seeds every published baseline was run with.
SEEDS = (42, 123, 456)

# {pool: {seed: (resnet56-cifar100, vgg16bn-cifar100, mobilenetv2-fmnist)}}, exactly as published.
_RUNS: dict[str, dict[int, tuple[float, float, float]]] = {
    "avg_max": {42: (71.06, 72.55, 94.52), 123: (71.60, 73.96, 94.32), 456: (71.84, 72.52, 94.36)},
    "gem": {42: (72.39, 74.02, 94.81), 123: (72.00, 72.48, 94.61), 456: (72.49, 73.83, 94.12)},
    # seed 123 on mobilenetv2-fmnist (61.22) is one collapsed run; it is part of the published mean
    "global_max": {42: (69.96, 74.43, 94.27), 123: (70.49, 73.93, 61.22), 456: (67.84, 73.04, 94.29)},
}

#: {pool: {column: {seed: value}}} under the benchmark's column names.
PUBLISHED: dict[str, dict[str, dict[int, float]]] = {
    pool: {col: {seed: vals[i] for seed, vals in by_seed.items()} for i, col in enumerate(BENCHMARK_COLUMNS)}
    for pool, by_seed in _RUNS.items()
}

# The benchmark's names -> ours (registry names of poolbench.pools, .models and .data; a column of
# our table is f"{model}-{dataset}"): its avg_max is our plain-sum ``avgmax``, its global_max our
# ``max``; its vgg16bn is our vgg16_bn, its fmnist our fashion_mnist.
OUR_NAME: dict[str, str] = {"avg_max": "avgmax", "gem": "gem", "global_max": "max"}
OUR_COLUMN: dict[str, str] = {
    "resnet56-cifar100": "resnet56-cifar100",
    "vgg16bn-cifar100": "vgg16_bn-cifar100",
    "mobilenetv2-fmnist": "mobilenetv2-fashion_mnist",
}
#: The benchmark's columns under our names, in its order (our tables put these first).
COLUMNS = tuple(OUR_COLUMN[c] for c in BENCHMARK_COLUMNS)


def row_label(pool: str) -> str:
    """'avg_max (ours: avgmax)' — so a reader finds the matching row of our table."""
    ours = OUR_NAME.get(pool, pool)
    return pool if ours == pool else f"{pool} (ours: {ours})"


def resolve_pool(name: str) -> str:
    """The benchmark's pool name for its name or ours ('global_max' or 'max'); ValueError listing them."""
    if name in PUBLISHED:
        return name
    theirs = {v: k for k, v in OUR_NAME.items()}.get(name)
    if theirs is None:
        known = ", ".join(f"{k} (ours: {v})" if k != v else k for k, v in OUR_NAME.items())
        raise ValueError(f"no published baseline {name!r}; published: {known}")
    return theirs


def values(pool: str, our_column: str) -> dict[int, float]:
    """{seed: value} of one published baseline (its name or ours) in one of our columns ({} if none)."""
    column = {v: k for k, v in OUR_COLUMN.items()}.get(our_column)
    return dict(PUBLISHED[resolve_pool(pool)][column]) if column else {}


def summary(pool: str, our_column: str) -> tuple[float, float, int]:
    """(mean, sample std ddof=1, n) of one published cell, as ``stats.summarize``."""
    return summarize(list(values(pool, our_column).values()))


def published_for(our_pool: str, our_column: str) -> list[float] | None:
    """The published per-seed values for one of our pool labels in one of our columns, or None."""
    if our_pool not in OUR_NAME.values():
        return None
    vals = values(our_pool, our_column)
    return [vals[s] for s in sorted(vals)] if vals else None


def cell_text(pool: str, our_column: str) -> str:
    """'83.26 ± 19.08 (n=3: 94.27, 61.22, 94.29)' — the published distribution, seeds in SEEDS order."""
    vals = values(pool, our_column)
    mean, std, n = summary(pool, our_column)
    per_seed = ", ".join(f"{vals[s]:.2f}" for s in SEEDS if s in vals)
    return f"{mean:.2f} ± {std:.2f} (n={n}: {per_seed})"


def column_note() -> str:
    """Which of the benchmark's column labels became which of ours (only those that differ)."""
    return ", ".join(f"{theirs} = our {ours}" for theirs, ours in OUR_COLUMN.items() if theirs != ours)


# --- both sources as runs, with provenance and divergence --------------------------------------

#: classes of each benchmark column (ours): chance is 100 / classes
NUM_CLASSES = {"resnet56-cifar100": 100, "vgg16_bn-cifar100": 100, "mobilenetv2-fashion_mnist": 10}


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    citation: str
    seeds: tuple[int, ...]
    columns: tuple[str, ...]  # ours


SOURCES = {
    "benchmark": Source(
        "benchmark",
        "the benchmark's published baselines",
        SOURCE,
        SEEDS,
        COLUMNS,
    ),
    "rerun": Source(
        "rerun",
        "a third-party rerun of the baselines",
        "third-party copy of the cv-pooling-aggregation leaderboard (XinghanLi66/autoresearch_idea_harness, "
        "tasks/cv-pooling-aggregation/leaderboard.csv, baseline rows of 2026-07-17)",
        (1, 2, 3),
        ("vgg16_bn-cifar100",),
    ),
}

# {pool: {seed: (vgg16bn-cifar100 accuracy, its elapsed seconds)}}, exactly as in the CSV; 1.0 is a
# collapse to chance. The rows also give elapsed seconds for the two columns whose accuracy is empty
# (not run, per the file's notes): those are left out.
_RERUN: dict[str, dict[int, tuple[float, float]]] = {
    "avg_max": {1: (72.08, 3610.3), 2: (74.42, 3629.9), 3: (73.99, 3640.2)},
    "gem": {1: (1.0, 3610.7), 2: (1.0, 3630.6), 3: (74.58, 3640.5)},
    "global_max": {1: (1.0, 3609.8), 2: (74.21, 3629.1), 3: (74.16, 3638.3)},
}


@dataclass(frozen=True)
class PublishedRun:
    source: str  # a key of SOURCES
    pool: str  # the benchmark's name
    column: str  # ours
    seed: int
    accuracy: float  # as published
    diverged: bool  # a collapse to chance (is_collapse)
    elapsed_s: float | None = None


def get_source(key: str) -> Source:
    """The published source ``key``; ValueError naming the sources for another key."""
    if key not in SOURCES:
        raise ValueError(f"no published source {key!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[key]


def runs(source: str = "benchmark") -> list[PublishedRun]:
    """Every published run of ``source`` (a key of SOURCES)."""
    get_source(source)  # an unknown key: ValueError naming the sources
    out = []
    if source == "benchmark":
        for pool, cols in PUBLISHED.items():
            for theirs, by_seed in cols.items():
                col = OUR_COLUMN[theirs]
                for seed, acc in by_seed.items():
                    out.append(PublishedRun(source, pool, col, seed, acc, is_collapse(acc, NUM_CLASSES[col])))
    else:
        col = "vgg16_bn-cifar100"
        for pool, by_seed in _RERUN.items():
            for seed, (acc, elapsed) in by_seed.items():
                out.append(PublishedRun(source, pool, col, seed, acc, is_collapse(acc, NUM_CLASSES[col]), elapsed))
    return out


@dataclass(frozen=True)
class PublishedCell:
    source: str
    pool: str  # the benchmark's name
    column: str
    finished: dict[int, float]  # seed -> accuracy, collapses left out
    diverged_seeds: tuple[int, ...]

    @property
    def divergence(self) -> DivergenceCount:
        return DivergenceCount(len(self.finished), len(self.diverged_seeds))


def cells(source: str = "benchmark") -> dict[tuple[str, str], PublishedCell]:
    """(benchmark pool name, our column) -> its cell: finished accuracies by seed and diverged seeds."""
    grouped: dict[tuple[str, str], list[PublishedRun]] = {}
    for r in runs(source):
        grouped.setdefault((r.pool, r.column), []).append(r)
    return {
        key: PublishedCell(
            source,
            key[0],
            key[1],
            {r.seed: r.accuracy for r in rs if not r.diverged},
            tuple(r.seed for r in rs if r.diverged),
        )
        for key, rs in grouped.items()
    }
