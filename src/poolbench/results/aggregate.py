"""Aggregates across columns as the field now reports them (Agarwal, Schwarzer, Castro, Courville &
Bellemare, "Deep Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021;
the reference code is google-research/rliable):

- interquartile mean (IQM): the mean of the middle 50% of all runs pooled across tasks, i.e.
  ``scipy.stats.trim_mean(all_runs, 0.25)`` (rliable ``metrics.aggregate_iqm``);
- probability of improvement P(X > Y): per task the Mann-Whitney U statistic of X's runs over Y's
  divided by n_X * n_Y (ties count one half), averaged over tasks (rliable
  ``metrics.probability_of_improvement``; a task where both score arrays are identical counts 0.5);
- performance profile: the fraction of all runs whose score exceeds tau, for each tau (rliable's
  run-score distribution, ``library.create_performance_profile``);
- stratified bootstrap: each resample draws, within every task, as many runs as the task has, with
  replacement (rliable ``library.StratifiedBootstrap``; two algorithms are resampled independently,
  ``StratifiedIndependentBootstrap``); the interval is the percentile interval.

Here a *task* is a column (model-dataset) and its *runs* are the finished seeds of one pool there.
Columns need not have equally many runs (rliable requires a matrix); where they do, the resamples
are drawn exactly as rliable draws them (``RandomState.choice(n, (n, tasks))`` per replicate), so
with the same seed the intervals are rliable's (``tests/results/test_aggregate.py``).
The scores are normalised per column before they are pooled, since 72% on CIFAR-100 and 94% on
Fashion-MNIST are not one scale: ``normalise`` maps chance to 0 and 100% to 1 (rliable's papers
use "random = 0, human = 1" the same way).

These are written with numpy and scipy rather than imported from ``rliable``: rliable installs
cleanly with poolbench's pins, but it brings pandas, arch and seaborn to every report; the test
extra installs it and the tests compare these functions with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

REPS = 2000
SEED = 0
CI_METHOD = f"stratified bootstrap (runs resampled within each column), percentile 95%, {REPS} resamples, seed {SEED}"

Tasks = Sequence[Sequence[float]]  # one sequence of run scores per task (column)


def normalise(accuracy: float, num_classes: int) -> float:
    """(accuracy - chance) / (100 - chance): chance 0, a perfect classifier 1 (accuracy in %)."""
    chance = 100.0 / num_classes
    return (accuracy - chance) / (100.0 - chance)


def iqm(tasks: Tasks) -> float:
    """Interquartile mean of every run of every task, pooled (25% cut from each end)."""
    return float(stats.trim_mean(np.concatenate([np.asarray(t, float) for t in tasks]), 0.25))


def _task_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """The Mann-Whitney U of x over y divided by n_x n_y, counted pair by pair (what
    ``scipy.stats.mannwhitneyu(x, y).statistic`` is, without its p-value's cost in a bootstrap)."""
    if np.array_equal(x, y):
        return 0.5
    gt = (x[:, None] > y[None, :]).mean()
    eq = (x[:, None] == y[None, :]).mean()
    return float(gt + 0.5 * eq)


def probability_of_improvement(x_tasks: Tasks, y_tasks: Tasks) -> float:
    """P(X > Y): per task U / (n_X n_Y) (ties one half), averaged over the tasks."""
    if len(x_tasks) != len(y_tasks):
        raise ValueError("both pools need the same columns")
    return float(
        np.mean(
            [
                _task_improvement(np.asarray(x, float), np.asarray(y, float))
                for x, y in zip(x_tasks, y_tasks, strict=True)
            ]
        )
    )


def performance_profile(tasks: Tasks, taus: Sequence[float]) -> np.ndarray:
    """For each tau, the fraction of all runs (pooled across tasks) whose score exceeds tau."""
    runs = np.concatenate([np.asarray(t, float) for t in tasks])
    return np.array([float(np.mean(runs > tau)) for tau in taus])


def _resample(tasks: list[np.ndarray], rs: np.random.RandomState) -> list[np.ndarray]:
    sizes = {t.size for t in tasks}
    if len(sizes) == 1:  # a matrix: draw the indices as rliable does, one (n, tasks) array
        n = sizes.pop()
        idx = rs.choice(n, (n, len(tasks)), replace=True)
        return [t[idx[:, j]] for j, t in enumerate(tasks)]
    return [t[rs.choice(t.size, t.size, replace=True)] for t in tasks]


def stratified_bootstrap(
    statistic: Callable[..., float | np.ndarray],
    *groups: Tasks,
    reps: int = REPS,
    seed: int = SEED,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """(point estimate, [2, ...] percentile interval) of ``statistic(*groups)``; every group (a
    pool's runs per task) is resampled within each task, independently of the other groups."""
    data = [[np.asarray(t, float) for t in g] for g in groups]
    point = np.asarray(statistic(*data), float)
    rs = np.random.RandomState(seed)
    draws = np.array([np.asarray(statistic(*[_resample(g, rs) for g in data]), float) for _ in range(reps)])
    tail = 100 * (1 - confidence) / 2
    return point, np.percentile(draws, [tail, 100 - tail], axis=0)
