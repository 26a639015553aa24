"""How many seeds a claim needs: the smallest difference a two-sided test detects, and the seeds a
given difference needs, from a column's measured spread.

The normal approximation (the textbook sample-size formula, e.g. Chow, Shao & Wang, *Sample Size
Calculations in Clinical Research*, eq. 3.2.3):

- unpaired, n seeds per pool:    d = (z_{1-alpha/2} + z_{power}) * sd * sqrt(1/n_a + 1/n_b)
- paired over n matching seeds:  d = (z_{1-alpha/2} + z_{power}) * sd_diff / sqrt(n)

where ``sd`` is the within-pool standard deviation of one run's accuracy and ``sd_diff`` that of
the per-seed difference between two pools. The exact version of the same question for the test
``poolbench compare`` actually runs (Student's two-sample t, or the paired t) uses the noncentral t
distribution: power = P(|T| > t_{1-alpha/2, df}) with T ~ nct(df, delta / se), both tails counted
as ``statsmodels.stats.power.TTestIndPower`` counts them. With three seeds the two differ a lot
(the normal approximation pretends the sd is known); both are printed.

``Spread`` is the measured spread of one column: the pooled within-pool sd (each pool's sum of
squared deviations from its own mean, summed, over the summed degrees of freedom: between-pool
differences never inflate it) and, where pools share seeds, the pooled sd of the per-seed
differences.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8
DESIGNS = ("unpaired", "paired")
METHODS = ("normal", "t")
METHOD_TEXT = {
    "normal": "normal approximation, d = (z_{1-alpha/2} + z_power) * sd * sqrt(2/n) unpaired "
    "(n seeds per pool), (z_{1-alpha/2} + z_power) * sd_diff / sqrt(n) paired",
    "t": "exact t-test power (noncentral t; Student's two-sample t unpaired, paired t paired)",
}


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_{1-alpha/2} + z_power: the two-sided normal quantiles the sample-size formula adds."""
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def _se_factor(design: str, n_a: int, n_b: int | None) -> tuple[float, int]:
    """(factor with se = sd * factor, t degrees of freedom) for ``design``."""
    if design == "unpaired":
        n_b = n_a if n_b is None else n_b
        return math.sqrt(1 / n_a + 1 / n_b), n_a + n_b - 2
    if design == "paired":
        return 1 / math.sqrt(n_a), n_a - 1
    raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")


def t_power(effect: float, df: int, alpha: float = ALPHA) -> float:
    """Power of a two-sided t-test whose statistic is noncentral t with ``df`` and noncentrality
    ``effect`` (the true difference over its standard error); both rejection tails."""
    crit = stats.t.ppf(1 - alpha / 2, df)
    p = float(stats.nct.sf(crit, df, effect) + stats.nct.cdf(-crit, df, effect))
    return p if math.isfinite(p) else 1.0  # scipy's nct gives NaN far in the tail, where power is 1


def detectable_difference(
    sd: float,
    n: int,
    design: str = "unpaired",
    method: str = "normal",
    alpha: float = ALPHA,
    power: float = POWER,
    n_b: int | None = None,
) -> float:
    """The smallest true difference (same unit as ``sd``) a two-sided test at ``alpha`` detects with
    probability ``power``: unpaired with n (and ``n_b``, default n) seeds per pool, paired over n
    seeds (``sd`` is then the sd of the per-seed differences). NaN where the test has no degrees of
    freedom (n < 2 paired, n_a + n_b < 3 unpaired)."""
    factor, df = _se_factor(design, n, n_b)
    if method == "normal":
        return z_sum(alpha, power) * sd * factor
    if method != "t":
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if df < 1 or not sd > 0:
        return math.nan if df < 1 else 0.0
    # t_power rises with the effect from alpha; the normal answer is a lower bound: widen until bracketed
    hi = 2 * z_sum(alpha, power)
    while t_power(hi, df, alpha) < power:
        hi *= 2
    effect = optimize.brentq(lambda e: t_power(e, df, alpha) - power, 0.0, hi)
    return float(effect * sd * factor)


def seeds_needed(
    difference: float,
    sd: float,
    design: str = "unpaired",
    method: str = "normal",
    alpha: float = ALPHA,
    power: float = POWER,
    limit: int = 100_000,
) -> int | None:
    """The fewest seeds (per pool unpaired, pairs paired) with which ``difference`` is detectable;
    None beyond ``limit``. The normal answer is the closed form ceil((z sd / difference)^2 k) with
    k = 2 unpaired, 1 paired; the t answer the first n at or above it whose t-test reaches the power."""
    if not difference > 0:
        raise ValueError(f"the difference must be positive (got {difference})")
    k = 2 if design == "unpaired" else 1
    n = max(2, math.ceil(k * (z_sum(alpha, power) * sd / difference) ** 2 - 1e-9))
    if method == "normal":
        return n if n <= limit else None
    while n <= limit:
        if detectable_difference(sd, n, design, "t", alpha, power) <= difference:
            return n
        n += 1
    return None


@dataclass(frozen=True)
class Spread:
    """A column's measured run-to-run spread, with where it came from."""

    source: str  # "published benchmark (...)", "your runs (protocol ...)", or both
    column: str
    sd: float  # pooled within-pool sd (ddof=1 per pool)
    df: int  # its degrees of freedom: sum over pools of (n - 1)
    per_pool: dict[str, tuple[float, int]] = field(default_factory=dict)  # pool -> (sd, finished n)
    sd_diff: float | None = None  # pooled sd of per-seed differences between pools (paired design)
    df_diff: int = 0
    pairs: list[str] = field(default_factory=list)  # "gem - avg_max (seeds 42, 123, 456)"
    left_out: list[str] = field(default_factory=list)  # pools with fewer than 2 finished runs


def pooled_sd(groups: Mapping[str, Sequence[float]]) -> tuple[float, int]:
    """(sqrt(sum of within-group squared deviations / sum of (n - 1)), that sum); groups of n < 2
    add nothing. NaN with 0 degrees of freedom."""
    ss, df = 0.0, 0
    for vals in groups.values():
        if len(vals) > 1:
            mean = sum(vals) / len(vals)
            ss += sum((v - mean) ** 2 for v in vals)
            df += len(vals) - 1
    return (math.sqrt(ss / df), df) if df else (math.nan, 0)


def measure_spread(column: str, runs: Mapping[str, Mapping[int, float]], source: str, pairable: bool = True) -> Spread:
    """``runs``: pool -> {seed: finished accuracy} of one column. ``pairable``: whether a seed number
    means the same initialisation across these pools (one code base); then every two pools' per-seed
    differences over their common seeds (2 or more) give the paired design's sd."""
    groups = {p: list(v.values()) for p, v in runs.items()}
    sd, df = pooled_sd(groups)
    per_pool = {p: (pooled_sd({p: v})[0], len(v)) for p, v in groups.items()}
    diffs: dict[str, list[float]] = {}
    if pairable:
        for a, b in itertools.combinations(sorted(runs), 2):
            common = sorted(set(runs[a]) & set(runs[b]))
            if len(common) > 1:
                key = f"{b} - {a} (seeds {', '.join(map(str, common))})"
                diffs[key] = [runs[b][s] - runs[a][s] for s in common]
    sd_diff, df_diff = pooled_sd(diffs) if diffs else (math.nan, 0)
    return Spread(
        source=source,
        column=column,
        sd=sd,
        df=df,
        per_pool=per_pool,
        sd_diff=sd_diff if df_diff else None,
        df_diff=df_diff,
        pairs=list(diffs),
        left_out=[p for p, v in groups.items() if len(v) < 2],
    )


def combine(spreads: Sequence[Spread]) -> Spread:
    """Several sources' spreads of one column pooled as one (each source's pools stay separate
    groups: a published pool and yours are never one group)."""
    ss = sum(s.sd**2 * s.df for s in spreads if s.df)
    df = sum(s.df for s in spreads)
    ssd = sum((s.sd_diff or 0.0) ** 2 * s.df_diff for s in spreads)
    dfd = sum(s.df_diff for s in spreads)
    return Spread(
        source=" + ".join(s.source for s in spreads),
        column=spreads[0].column,
        sd=math.sqrt(ss / df) if df else math.nan,
        df=df,
        per_pool={f"{p} [{s.source.split(' (')[0]}]": v for s in spreads for p, v in s.per_pool.items()},
        sd_diff=math.sqrt(ssd / dfd) if dfd else None,
        df_diff=dfd,
        pairs=[p for s in spreads for p in s.pairs],
        left_out=[p for s in spreads for p in s.left_out],
    )
