"""One protocol section's pools across its columns: interquartile mean and probability of
improvement over a reference pool, each with its stratified bootstrap interval (``aggregate``).

Only pools with finished runs in every column of the section take part (a pool missing a column
would be scored on other tasks). The scores are the accuracies (%) as they are: the columns keep
their own scales, which is why the probability of improvement (a rank statistic per column) is
the number to read across datasets, and the IQM is comparable only between pools of one section.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .aggregate import CI_METHOD, iqm, performance_profile, probability_of_improvement, stratified_bootstrap
from .table import Section

#: the reference of P(pool > reference): the first of these with runs in every column, else the
#: first pool by name
REFERENCES = ("avg", "avgmax", "max", "gem")


def across_columns(sec: Section) -> dict[str, Any] | None:
    """{"columns", "reference", "method", "rows": [{"pool", "iqm", "iqm_ci", "p_improve", "p_ci", "runs"}],
    "profiles": {"taus": [...], pool: (profile, [2, taus] interval)}}, or None when fewer than two
    columns, or fewer than two pools with runs in all of them."""
    if len(sec.columns) < 2:
        return None
    tasks = {
        pool: [sec.cells[(pool, col)].values for col in sec.columns]
        for pool in sec.pools
        if all((pool, col) in sec.cells and sec.cells[(pool, col)].n for col in sec.columns)
    }
    if len(tasks) < 2:
        return None
    reference = next((p for p in REFERENCES if p in tasks), sorted(tasks)[0])
    rows = []
    for pool, runs in tasks.items():
        point, ci = stratified_bootstrap(iqm, runs)
        row = {"pool": pool, "iqm": float(point), "iqm_ci": tuple(map(float, ci)), "runs": sum(map(len, runs))}
        if pool != reference:
            p, pci = stratified_bootstrap(probability_of_improvement, runs, tasks[reference])
            row |= {"p_improve": float(p), "p_ci": tuple(map(float, pci))}
        rows.append(row)
    every = np.concatenate([np.concatenate(runs) for runs in tasks.values()])
    taus = np.linspace(every.min() - 0.5, every.max() + 0.5, 41)
    profiles: dict[str, Any] = {"taus": taus}
    for pool, runs in tasks.items():
        profiles[pool] = stratified_bootstrap(lambda t: performance_profile(t, taus), runs, reps=500)
    return {"columns": sec.columns, "reference": reference, "method": CI_METHOD, "rows": rows, "profiles": profiles}


def across_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """Display rows (strings) for HTML and Markdown."""
    ref = result["reference"]
    out = []
    for r in result["rows"]:
        p = f"{r['p_improve']:.2f} [{r['p_ci'][0]:.2f}, {r['p_ci'][1]:.2f}]" if "p_improve" in r else "(the reference)"
        out.append(
            {
                "pool": r["pool"],
                "finished runs": str(r["runs"]),
                "IQM accuracy (%) [95% CI]": f"{r['iqm']:.2f} [{r['iqm_ci'][0]:.2f}, {r['iqm_ci'][1]:.2f}]",
                f"P(pool > {ref}) [95% CI]": p,
            }
        )
    return out
