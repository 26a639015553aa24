"""Published baselines shown beside our numbers as a reference block (never mixed into our cells).

Source: the public leaderboard of the MLS-Bench task "cv-pooling-aggregation" (GitHub
``Imbernoulli/mls-bench-website``, ``public/data/leaderboards/cv-pooling-aggregation.json``, data
update of 2026-04-05): best-epoch test accuracy (%) under the standard protocol (see
``poolbench.train.protocol``), every baseline at seeds 42, 123 and 456. The seed document's table
shows only the seed-42 row. One place, so a typo is fixed once; ``tests/results/test_published.py``
checks these numbers against the leaderboard file where it is present.
"""

from __future__ import annotations

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
