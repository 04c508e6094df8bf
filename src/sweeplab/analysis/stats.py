"""Statistics over seeds: mean ± std, Welch's t-test against the best.

A configuration is the set of trials sharing the same swept values; its
repeats differ only in the seed. All tests here compare per-seed values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _st

LOWER_IS_BETTER = ("loss", "mae", "mse", "error", "time", "seconds")


def lower_is_better(metric: str) -> bool:
    """True for losses and errors (``test_loss``, ``val_mae``...), False for scores."""
    base = metric.rsplit("_", 1)[-1] if "_" in metric else metric
    return any(base.endswith(k) for k in LOWER_IS_BETTER) or metric.endswith("time_per_epoch")


def aggregate(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof=1) and count of each metric per group.

    Args:
        frame: one row per trial.
        by: grouping columns (sweep axes, or ``config_id``).
        metrics: numeric columns to summarise.

    Returns:
        One row per group; columns ``(metric, "mean"|"std"|"n")`` flattened to
        ``metric``, ``metric_std``, ``metric_n``.
    """
    metrics = [m for m in metrics if m in frame.columns]
    keys = [frame[c].map(_hashable) for c in by]
    grouped = frame[metrics].apply(pd.to_numeric, errors="coerce").groupby(keys, sort=False, dropna=False)
    mean, std, n = grouped.mean(), grouped.std(ddof=1), grouped.count()
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[m] = mean[m]
        out[f"{m}_std"] = std[m]
        out[f"{m}_n"] = n[m].astype(int)
    return out.reset_index()


def _hashable(v):
    if isinstance(v, (list, tuple)):
        return str(list(v))
    if isinstance(v, dict):
        return str(v)
    return v


def welch(a, b) -> tuple[float, float]:
    """Welch's unequal-variance t-test of two samples (scipy's ``ttest_ind``).

    Returns ``(t, p)``; NaN when either sample has fewer than two values. Two
    constant samples give ``p = 1`` when equal and ``p = 0`` otherwise.
    """
    a = np.asarray(a, float)[~np.isnan(np.asarray(a, float))]
    b = np.asarray(b, float)[~np.isnan(np.asarray(b, float))]
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return (0.0, 1.0) if a[0] == b[0] else (math.copysign(math.inf, a[0] - b[0]), 0.0)
    res = _st.ttest_ind(a, b, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def compare_with_best(
    frame: pd.DataFrame, group_col: str, metric: str, *, alpha: float = 0.05, higher_is_better: bool | None = None
) -> pd.DataFrame:
    """Compare the best group with every other one by Welch's t-test over seeds.

    Args:
        frame: one row per trial with ``group_col`` and ``metric``.
        group_col: column naming the configuration of each trial.
        metric: the value compared.
        alpha: significance level; ``p >= alpha`` means *not distinguishable*.
        higher_is_better: direction; guessed from the metric name by default.

    Returns:
        One row per group, best first: ``mean, std, n, diff`` (other minus best),
        ``t, p``, ``distinguishable`` (True/False, or None when a group has a
        single seed and no comparison is possible) and ``best`` (bool).
    """
    if higher_is_better is None:
        higher_is_better = not lower_is_better(metric)
    vals = pd.to_numeric(frame[metric], errors="coerce")
    groups = {k: v.dropna().to_numpy() for k, v in vals.groupby(frame[group_col].map(_hashable), sort=False)}
    rows = [(k, v.mean() if v.size else math.nan, v.std(ddof=1) if v.size > 1 else math.nan, v.size)
            for k, v in groups.items()]
    table = pd.DataFrame(rows, columns=[group_col, "mean", "std", "n"])
    table = table.sort_values("mean", ascending=not higher_is_better, na_position="last", kind="mergesort")
    table = table.reset_index(drop=True)
    best_key = table[group_col].iloc[0]
    best = groups[best_key]
    ts, ps, dist = [], [], []
    for k in table[group_col]:
        t, p = welch(groups[k], best) if k != best_key else (math.nan, math.nan)
        ts.append(t)
        ps.append(p)
        dist.append(None if (k == best_key or math.isnan(p)) else bool(p < alpha))
    table["diff"] = table["mean"] - table["mean"].iloc[0]
    table["t"], table["p"], table["distinguishable"] = ts, ps, dist
    table["best"] = table[group_col] == best_key
    return table


def comparison_possible(frame: pd.DataFrame, group_col: str) -> bool:
    """False when no configuration has at least two seeds (a t-test needs two)."""
    return bool((frame.groupby(frame[group_col].map(_hashable)).size() >= 2).any())


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
