"""Figures of a whole study: learning curves, effect plots, heat maps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sweeplab.analysis.curves import mean_curves, trial_history
from sweeplab.analysis.stats import aggregate
from sweeplab.analysis.tables import heatmap_grid, value_key
from sweeplab.report import style
from sweeplab.report.style import figure, legend_outside, metric_label, styled

MAX_COLOURED = 8  # beyond this, lines take a sequential colour map


def _metrics_of(epochs: pd.DataFrame, metrics=None) -> list[str]:
    names = epochs.loc[epochs["split"].isin(["train", "val"]), "metric"].unique().tolist()
    if metrics:
        names = [m for m in metrics if m in names] or names
    names.sort(key=lambda m: (m != "loss", not m.endswith("loss"), m))
    return names


def _colours(n: int):
    if n <= MAX_COLOURED:
        return [style.color(i) for i in range(n)]
    import matplotlib

    cmap = matplotlib.colormaps[style.SEQUENTIAL]
    return [cmap(x) for x in np.linspace(0.0, 0.9, n)]


def learning_curves(epochs: pd.DataFrame, trial_id: str, metrics=None, title: str | None = None):
    """One trial's training and validation curves, one panel per metric."""
    hist = trial_history(epochs, trial_id)
    names = [m for m in _metrics_of(epochs[epochs["trial_id"] == trial_id], metrics)]
    fig = figure(3.3 * max(1, len(names)) + 1.0, 3.0)
    with styled():
        axs = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
        for ax, m in zip(axs, names):
            for i, split in enumerate(("train", "val")):
                col = f"{split}_{m}"
                if col in hist:
                    ax.plot(hist.index, hist[col], color=style.color(i), label=split)
            ax.set_xlabel("epoch")
            ax.set_ylabel(style.UNITS.get(m.rsplit("_", 1)[-1], m))
            ax.set_title(m)
        legend_outside(axs[-1], title="split")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def mean_learning_curves(epochs, trials, axis: str | None, metrics=None, splits=("train", "val"), title=None):
    """Mean curves per value of ``axis`` with a ±1 std band over seeds.

    One panel per metric; colour is the axis value, line style the split
    (solid validation, dashed training).
    """
    names = _metrics_of(epochs, metrics)
    values = sorted(trials[axis].map(_k).unique(), key=value_key) if axis else ["all"]
    colours = dict(zip(values, _colours(len(values))))
    fig = figure(3.3 * max(1, len(names)) + 1.6, 3.2)
    dash = {"val": "-", "train": "--"}
    with styled():
        axs = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
        for ax, m in zip(axs, names):
            for split in splits:
                curves = mean_curves(epochs, trials, axis, split, m)
                for v, c in curves.groupby("value", sort=False):
                    col = colours.get(v, "grey")
                    ax.plot(c["epoch"], c["mean"], color=col, ls=dash.get(split, "-"),
                            label=f"{v}" if split == splits[-1] else None)
                    sd = c["std"].fillna(0.0)
                    ax.fill_between(c["epoch"], c["mean"] - sd, c["mean"] + sd, color=col, alpha=0.15, lw=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel(style.UNITS.get(m.rsplit("_", 1)[-1], m))
            ax.set_title(f"{m} (solid: val, dashed: train)" if len(splits) > 1 else f"{splits[0]} {m}")
        if len(values) <= 24:
            legend_outside(axs[-1], title=axis or None)
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def _k(v):
    return str(v) if isinstance(v, (list, dict, tuple)) else v


def _positions(values):
    """x positions: numbers as numbers (log scale when they span > 20x), else categories."""
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)
    if numeric:
        arr = np.asarray(values, float)
        log = bool(np.all(arr > 0) and arr.max() / arr.min() > 20)
        return arr, log, None
    return np.arange(len(values), dtype=float), False, [str(v) for v in values]


def effect_plot(trials: pd.DataFrame, axis: str, metrics: list[str], by: str | None = None, title=None):
    """Metric against the value of a sweep axis, mean ± std over seeds as error bars.

    Args:
        trials: trials frame.
        axis: the swept path on the x axis.
        metrics: metric columns, one panel each (e.g. test accuracy and loss).
        by: another axis: one line per value of it (like seed 002 fig. 3).
    """
    metrics = [m for m in metrics if m in trials.columns]
    keys = [axis] + ([by] if by else [])
    agg = aggregate(trials.assign(**{k: trials[k].map(_k) for k in keys}), keys, metrics)
    all_x = sorted(agg[axis].unique(), key=value_key)
    x, log, ticks = _positions(all_x)
    xpos = dict(zip(all_x, x))
    lines = sorted(agg[by].unique(), key=value_key) if by else [None]
    colours = _colours(len(lines))
    fig = figure(3.3 * max(1, len(metrics)) + (1.6 if by else 0.6), 3.0)
    with styled():
        axs = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
        for ax, m in zip(axs, metrics):
            for j, lv in enumerate(lines):
                part = agg if lv is None else agg[agg[by] == lv]
                part = part.sort_values(axis, key=lambda s: s.map(value_key))
                px = part[axis].map(xpos).to_numpy()
                shift = 0.0 if (lv is None or log or ticks is None) else (j - (len(lines) - 1) / 2) * 0.06
                ax.errorbar(px + shift, part[m], yerr=part[f"{m}_std"].fillna(0.0), marker="o", ms=4, capsize=3,
                            color=colours[j], label=None if lv is None else str(lv))
            if log:
                ax.set_xscale("log")
            if ticks is not None:
                ax.set_xticks(x, ticks, rotation=30 if max(map(len, ticks)) > 6 else 0)
            ax.set_xlabel(axis)
            ax.set_ylabel(metric_label(m))
        if by:
            legend_outside(axs[-1], title=by)
        fig.suptitle(title or "mean ± std over seeds", fontsize=10)
    return fig


def heatmap(trials: pd.DataFrame, row_axis: str, col_axis: str, metric: str, title=None):
    """Mean of a metric over the grid of two sweep axes, cells annotated."""
    grid = heatmap_grid(trials.assign(**{a: trials[a].map(_k) for a in (row_axis, col_axis)}), row_axis, col_axis, metric)
    nr, nc = grid.shape
    fig = figure(min(2.0 + 0.7 * nc, 11), min(1.6 + 0.45 * nr, 9))
    with styled():
        ax = fig.add_subplot()
        im = ax.imshow(grid.to_numpy(float), cmap=style.SEQUENTIAL, aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(nc), [str(c) for c in grid.columns], rotation=30 if nc > 6 else 0)
        ax.set_yticks(range(nr), [str(r) for r in grid.index])
        ax.set_xlabel(col_axis)
        ax.set_ylabel(row_axis)
        if nr * nc <= 400:
            vals = grid.to_numpy(float)
            finite = vals[np.isfinite(vals)]
            mid = (finite.min() + finite.max()) / 2 if finite.size else 0
            for i in range(nr):
                for j in range(nc):
                    v = vals[i, j]
                    if math.isfinite(v):
                        ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                                color="white" if v < mid else "black")
        fig.colorbar(im, ax=ax, label=metric_label(metric))
        ax.set_title(title or f"{metric_label(metric)}: mean over seeds and other axes")
    return fig
