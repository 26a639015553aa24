"""IQM, probability of improvement, performance profiles and the stratified bootstrap: against the
definitions of Agarwal et al. 2021 written out here with numpy, and against rliable itself where it
imports (the test extra installs it)."""

import itertools

import numpy as np
import pytest

from poolbench.results import aggregate as ag

RNG = np.random.default_rng(7)
X = RNG.normal(0.70, 0.05, (6, 4))  # 6 runs x 4 tasks
Y = RNG.normal(0.68, 0.05, (6, 4))
TASKS_X = [X[:, j] for j in range(4)]
TASKS_Y = [Y[:, j] for j in range(4)]
TAUS = np.linspace(0.55, 0.85, 7)


def _rliable():
    try:  # rliable imports arch, which fails with some pandas releases: then this comparison skips
        from rliable import library, metrics
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"rliable does not import here: {type(err).__name__}: {err}")
    return library, metrics


def test_iqm_is_the_mean_of_the_middle_half_of_all_runs():
    runs = np.sort(X.ravel())  # 24 runs: the middle 12
    assert ag.iqm(TASKS_X) == pytest.approx(runs[6:-6].mean())


def test_probability_of_improvement_counts_pairs_per_task():
    per_task = [
        np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(X[:, j], Y[:, j])])
        for j in range(4)
    ]
    assert ag.probability_of_improvement(TASKS_X, TASKS_Y) == pytest.approx(np.mean(per_task))
    assert ag.probability_of_improvement([[1.0, 2.0]], [[1.0, 2.0]]) == 0.5  # identical: one half


def test_performance_profile_is_the_fraction_of_runs_above_tau():
    assert np.allclose(ag.performance_profile(TASKS_X, TAUS), [(t < X).mean() for t in TAUS])


def test_the_bootstrap_resamples_within_each_task():
    seen = []

    def record(tasks):
        seen.append([set(t) for t in tasks])
        return 0.0

    ag.stratified_bootstrap(record, TASKS_X, reps=50)
    for draw in seen[1:]:
        assert all(values <= set(TASKS_X[j]) for j, values in enumerate(draw))  # never another task's run


def test_ragged_columns_are_allowed():
    point, ci = ag.stratified_bootstrap(ag.iqm, [[0.1, 0.2, 0.3], [0.5, 0.6]], reps=200)
    assert ci[0] <= point <= ci[1]


def test_normalise_maps_chance_to_0_and_100_to_1():
    assert ag.normalise(1.0, 100) == 0.0 and ag.normalise(100.0, 10) == 1.0


def test_equal_to_rliable_with_the_same_seed():
    library, metrics = _rliable()
    np.random.seed(0)  # rliable draws from numpy's global generator
    _, ci = library.get_interval_estimates({"x": X}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=300)
    point, mine = ag.stratified_bootstrap(ag.iqm, TASKS_X, reps=300, seed=0)
    assert point == pytest.approx(metrics.aggregate_iqm(X)) and np.allclose(mine, ci["x"].ravel())
    np.random.seed(0)
    _, ci = library.get_interval_estimates(
        {"xy": [X, Y]}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=300
    )
    point, mine = ag.stratified_bootstrap(ag.probability_of_improvement, TASKS_X, TASKS_Y, reps=300, seed=0)
    assert point == pytest.approx(metrics.probability_of_improvement(X, Y)) and np.allclose(mine, ci["xy"].ravel())
    np.random.seed(0)
    profile, ci = library.create_performance_profile({"x": X}, TAUS, reps=300)
    point, mine = ag.stratified_bootstrap(lambda t: ag.performance_profile(t, TAUS), TASKS_X, reps=300, seed=0)
    assert np.allclose(point, profile["x"]) and np.allclose(mine, ci["x"])
