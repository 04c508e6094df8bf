"""Per-study tables: one row per sweep value (seed reports' tables), top-N
configurations, a two-axis grid for heat maps, and the best configuration in
one sentence.

All functions take the trials frame of :class:`~sweeplab.analysis.rundata.RunData`
(one row per trial; sweep axes as columns named by their dotted path;
``test_<metric>``, final ``train_<metric>``/``val_<metric>``,
``time_per_epoch``, ``n_params``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sweeplab.analysis.stats import aggregate, format_mean_std, lower_is_better

EXTRA_COLUMNS = ("time_per_epoch", "n_params")


def metric_columns(trials: pd.DataFrame, metrics=None) -> list[str]:
    """The metric columns to tabulate: test metrics first, then final train/val.

    Args:
        metrics: base names (``accuracy``) or full names (``test_accuracy``);
            by default every test/train/val column present.
    """
    present = [c for c in trials.columns if c.split("_", 1)[0] in ("test", "train", "val") and "_" in c]
    if metrics:
        wanted = []
        for m in metrics:
            full = [m] if m in present else [f"{s}_{m}" for s in ("test", "train", "val")]
            wanted += [c for c in full if c in present]
        present = list(dict.fromkeys(wanted))
    order = {"test": 0, "train": 1, "val": 2}
    return sorted(present, key=lambda c: order[c.split("_", 1)[0]])


def primary_metric(trials: pd.DataFrame, metrics=None) -> str:
    """The metric that ranks configurations: the first requested metric on the
    test split (else validation, else training); by default test accuracy,
    then test F1, then test loss, then the first test metric there is."""
    cols = metric_columns(trials, metrics)
    if metrics:
        for m in metrics:
            for s in ("test", "val", "train"):
                for c in ([m] if m in cols else [f"{s}_{m}"]):
                    if c in cols and trials[c].notna().any():
                        return c
    for c in ("test_accuracy", "test_f1", "test_loss", "val_accuracy", "val_loss"):
        if c in trials.columns and trials[c].notna().any():
            return c
    for c in cols:
        if trials[c].notna().any():
            return c
    raise ValueError("no metric to rank configurations by: the run has no test/val/train metrics")


def value_key(v):
    """Sort key for sweep values: numbers numerically, then the rest as text
    (``[32, 64, "full"]`` keeps ``full`` last)."""
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def axis_table(trials: pd.DataFrame, axis: str, metrics=None, *, sort_by: str | None = None) -> pd.DataFrame:
    """One row per value of a sweep axis: mean, std and n of each metric.

    Values are averaged over seeds (and over the other axes' values, when
    there are other axes). Sorted best first by ``sort_by`` (default: the
    primary metric); the ``best`` column marks the first row.

    Returns:
        Columns ``axis``, then for each metric ``m``, ``m_std``, ``m_n``;
        ``time_per_epoch``/``n_params`` the same way; ``best``.
    """
    cols = metric_columns(trials, metrics) + [c for c in EXTRA_COLUMNS if c in trials.columns]
    sort_by = sort_by or primary_metric(trials, metrics)
    if sort_by not in cols:
        cols.insert(0, sort_by)
    table = aggregate(trials, [axis], cols)
    table = table.sort_values(sort_by, ascending=lower_is_better(sort_by), na_position="last", kind="mergesort")
    table = table.reset_index(drop=True)
    table["best"] = False
    if len(table) and not pd.isna(table[sort_by].iloc[0]):
        table.loc[0, "best"] = True
    table.attrs.update(axis=axis, sort_by=sort_by, metrics=cols)
    return table


def config_table(trials: pd.DataFrame, axes: list[str], metrics=None, *, sort_by=None, top_n=None) -> pd.DataFrame:
    """One row per configuration (all sweep values), best first, at most ``top_n`` rows."""
    cols = metric_columns(trials, metrics) + [c for c in EXTRA_COLUMNS if c in trials.columns]
    sort_by = sort_by or primary_metric(trials, metrics)
    if sort_by not in cols:
        cols.insert(0, sort_by)
    by = list(axes) if axes else ["config_id"]
    table = aggregate(trials, by, cols)
    table = table.sort_values(sort_by, ascending=lower_is_better(sort_by), na_position="last", kind="mergesort")
    table = table.reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["best"] = table["rank"] == 1
    table.attrs.update(axes=by, sort_by=sort_by, metrics=cols, total=len(table))
    return table.head(top_n) if top_n else table


def heatmap_grid(trials: pd.DataFrame, row_axis: str, col_axis: str, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` for each pair of values of two axes (averaged over
    seeds and the remaining axes): rows ``row_axis``, columns ``col_axis``."""
    agg = aggregate(trials, [row_axis, col_axis], [metric])
    grid = agg.pivot(index=row_axis, columns=col_axis, values=metric)
    rows = sorted(grid.index, key=value_key)
    cols = sorted(grid.columns, key=value_key)
    return grid.loc[rows, cols]


def format_table(table: pd.DataFrame, *, digits: int = 4) -> pd.DataFrame:
    """A table for display: ``mean ± std`` strings, one ``n`` column, a ``★`` on the best row."""
    metrics = table.attrs.get("metrics", [])
    keys = [c for c in table.columns if c not in metrics and not c.endswith(("_std", "_n")) and c != "best"]
    out = table[keys].copy()
    n_col = None
    for m in metrics:
        if m not in table.columns:
            continue
        d = 0 if m == "n_params" else (3 if m == "time_per_epoch" else digits)
        std = table[f"{m}_std"]
        if m == "n_params":
            std = std.where(std > 0)  # a count that does not vary needs no ± 0
        out[_label(m)] = [format_mean_std(a, s, None, d) for a, s in zip(table[m], std)]
        n_col = n_col if n_col is not None else table[f"{m}_n"]
    if n_col is not None:
        out["n"] = n_col.to_numpy()
    if "best" in table.columns:
        out.insert(0, "", np.where(table["best"], "★", ""))
    return out


def _label(col: str) -> str:
    if col == "time_per_epoch":
        return "time/epoch (s)"
    if col == "n_params":
        return "parameters"
    split, _, metric = col.partition("_")
    return f"{split} {metric}" if metric else col


def best_sentence(trials: pd.DataFrame, axes: list[str], metrics=None, *, metric: str | None = None) -> str:
    """The best configuration in one sentence, with its numbers."""
    if trials.empty:
        return "The run has no finished trials."
    metric = metric or primary_metric(trials, metrics)
    table = config_table(trials, axes, metrics, sort_by=metric)
    best = table.iloc[0]
    where = ", ".join(f"{a} = {_value(best[a])}" for a in axes) if axes else "the single configuration"
    text = f"The best configuration is {where}, with {_label(metric)} {format_mean_std(best[metric], best[f'{metric}_std'])}"
    n = int(best[f"{metric}_n"])
    text += f" over {n} seed{'s' if n != 1 else ''}"
    others = [m for m in metric_columns(trials, metrics) if m != metric and m.startswith(metric.split("_")[0])][:2]
    extra = [f"{_label(m)} {format_mean_std(best[m], best[m + '_std'])}" for m in others if not pd.isna(best[m])]
    if extra:
        text += " (" + "; ".join(extra) + ")"
    return text + f", out of {len(table)} configuration{'s' if len(table) != 1 else ''}."


def _value(v) -> str:
    if isinstance(v, float) and v.is_integer() and not math.isinf(v):
        return str(int(v)) if abs(v) < 1e15 else str(v)
    return str(v)
