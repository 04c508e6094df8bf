"""Statistics over seeds: mean ± std, Welch's t-test against the best.

A configuration is the set of trials sharing the same swept values; its
repeats differ only in the seed. All tests here compare per-seed values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sweeplab import values as V
from sweeplab.vocab.metrics import lower_is_better
from sweeplab.vocab.registry import UnknownNameError


def aggregate(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof=1) and count of each metric per group.

    Groups are formed on :func:`sweeplab.values.canonical` values, so ``[64]``
    and ``(64,)`` are one group, and the output keeps the canonical values.

    Args:
        frame: one row per trial.
        by: grouping columns (sweep axes, or ``config_id``).
        metrics: numeric columns to summarise.

    Returns:
        One row per group, in order of first appearance; columns ``(metric,
        "mean"|"std"|"n")`` flattened to ``metric``, ``metric_std``, ``metric_n``.
    """
    metrics = [m for m in metrics if m in frame.columns]
    keys = [tuple(V.canonical(v) for v in row) for row in frame[by].itertuples(index=False)] if by else \
        [()] * len(frame)
    distinct = list(dict.fromkeys(keys))
    code = {k: i for i, k in enumerate(distinct)}
    codes = np.fromiter((code[k] for k in keys), dtype=np.int64, count=len(keys))
    grouped = frame[metrics].apply(pd.to_numeric, errors="coerce").groupby(codes, sort=True)
    mean, std, n = grouped.mean(), grouped.std(ddof=1), grouped.count()
    out = pd.DataFrame({c: pd.Series([k[i] for k in distinct], dtype=object) for i, c in enumerate(by)})
    for m in metrics:
        out[m] = mean[m].reindex(range(len(distinct))).to_numpy()
        out[f"{m}_std"] = std[m].reindex(range(len(distinct))).to_numpy()
        out[f"{m}_n"] = n[m].reindex(range(len(distinct))).fillna(0).astype(int).to_numpy()
    return out


def welch(a, b) -> tuple[float, float]:
    """Welch's unequal-variance t-test of two samples (equal to scipy's ``ttest_ind(equal_var=False)``).

    Returns ``(t, p)``; NaN when either sample has fewer than two values. Two
    constant samples give ``p = 1`` when equal and ``p = 0`` otherwise.
    """
    a = np.asarray(a, float)[~np.isnan(np.asarray(a, float))]
    b = np.asarray(b, float)[~np.isnan(np.asarray(b, float))]
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return (0.0, 1.0) if a[0] == b[0] else (math.copysign(math.inf, a[0] - b[0]), 0.0)
    # Welch's t and Welch-Satterthwaite degrees of freedom, as scipy's
    # ttest_ind(equal_var=False) computes them, with the Student-t tail from
    # the incomplete beta function below (importing scipy.stats costs about a
    # second of a report's start-up, scipy.special a quarter).
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0:
        return (0.0, 1.0) if a.mean() == b.mean() else (math.copysign(math.inf, a.mean() - b.mean()), 0.0)
    t = (a.mean() - b.mean()) / math.sqrt(se2)
    df = se2 ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return float(t), student_t_two_sided(t, df)


def student_t_two_sided(t: float, df: float) -> float:
    """Two-sided p-value of Student's t: ``P(|T| >= |t|) = I_{df/(df+t²)}(df/2, 1/2)``."""
    if math.isinf(t):
        return 0.0
    return min(1.0, max(0.0, _betainc(df / 2, 0.5, df / (df + t * t))))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta ``I_x(a, b)`` by Lentz's continued fraction
    (Numerical Recipes, 6.4); relative error below 1e-12 for the t-test's range."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _betainc(b, a, 1.0 - x)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f / a


MIN_SEEDS_FOR_TEST = 3


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down; NaN stays NaN)."""
    p = np.asarray(pvalues, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not ok.size:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = order.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def compare_with_best(
    frame: pd.DataFrame, group_col: str, metric: str, *, alpha: float = 0.05, higher_is_better: bool | None = None
) -> pd.DataFrame:
    """Compare the best group with every other one by Welch's t-test over seeds.

    With several comparisons the p-values are corrected for multiplicity by
    Holm's step-down method (``p_holm``), and ``distinguishable`` uses the
    corrected value. A comparison where either side has fewer than
    :data:`MIN_SEEDS_FOR_TEST` seeds has little power: its p-value is kept but
    ``distinguishable`` is None ("too few seeds"), never a verdict.

    Args:
        frame: one row per trial with ``group_col`` and ``metric``.
        group_col: column naming the configuration of each trial.
        metric: the value compared.
        alpha: significance level; ``p_holm >= alpha`` means *not distinguishable*.
        higher_is_better: direction; by default the one declared on the metric's registry entry
            (:func:`sweeplab.vocab.metrics.direction`); higher for a column that is no metric.

    Returns:
        One row per group, best first: ``mean, std, n, diff`` (other minus best),
        ``t, p, p_holm``, ``distinguishable`` (True/False, or None when no test
        is possible or it has too few seeds), ``low_power`` and ``best`` (bool).
    """
    if higher_is_better is None:
        higher_is_better = _higher_is_better(metric)
    vals = pd.to_numeric(frame[metric], errors="coerce")
    keys = frame[group_col].map(V.canonical)
    groups: dict = {}
    for k, v in zip(keys, vals):
        groups.setdefault(k, [])
        if not math.isnan(v):
            groups[k].append(v)
    groups = {k: np.asarray(v, float) for k, v in groups.items()}
    rows = [(k, v.mean() if v.size else math.nan, v.std(ddof=1) if v.size > 1 else math.nan, v.size)
            for k, v in groups.items()]
    table = pd.DataFrame(rows, columns=[group_col, "mean", "std", "n"])
    table[group_col] = pd.Series([r[0] for r in rows], dtype=object)
    table = table.sort_values("mean", ascending=not higher_is_better, na_position="last", kind="mergesort")
    table = table.reset_index(drop=True)
    best_key = table[group_col].iloc[0]
    best = groups[best_key]
    ts, ps = [], []
    for k in table[group_col]:
        t, p = welch(groups[k], best) if k != best_key else (math.nan, math.nan)
        ts.append(t)
        ps.append(p)
    low = [k != best_key and min(groups[k].size, best.size) < MIN_SEEDS_FOR_TEST for k in table[group_col]]
    p_holm = holm(ps)
    dist = [None if (k == best_key or math.isnan(p) or lo) else bool(p < alpha)
            for k, p, lo in zip(table[group_col], p_holm, low)]
    table["diff"] = table["mean"] - table["mean"].iloc[0]
    table["t"], table["p"], table["p_holm"] = ts, ps, p_holm
    table["distinguishable"], table["low_power"] = dist, low
    table["best"] = [k == best_key for k in table[group_col]]
    table.attrs.update(correction="holm", alpha=alpha, tests=int(np.sum(~np.isnan(np.asarray(ps, float)))))
    return table


def comparison_possible(frame: pd.DataFrame, group_col: str) -> bool:
    """False when no configuration has at least two seeds (a t-test needs two)."""
    return bool((frame[group_col].map(V.canonical).value_counts() >= 2).any())


def _higher_is_better(column: str) -> bool:
    """The registry's direction for a recorded metric; a column that is no metric (a score
    made up in a notebook) ranks higher first unless ``higher_is_better`` says otherwise."""
    try:
        return not lower_is_better(column)
    except UnknownNameError:
        return True


def format_mean_std(mean: float, std: float, n: int | None = None, digits: int = 4) -> str:
    """``0.9870 ± 0.0012 (n=3)``; the ± part is left out for a single value."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    text = f"{mean:.{digits}f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.{digits}f}"
    if n is not None:
        text += f" (n={n})"
    return text


def format_seconds(s) -> str:
    """A duration for a table cell: ``4.1 ms``, ``350 ms``, ``2.35 s``; ``—`` when unknown."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "—"
    s = float(s)
    if s < 0.01:
        return f"{s * 1e3:.2g} ms"
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s"
