"""Figures of a whole study: learning curves, effect plots, heat maps.

Sweep values are handled through :mod:`sweeplab.values` only: every axis
(numbers, text, lists such as ``model.mlp.hidden = [[16], [64]]``) is sorted
by :func:`~sweeplab.values.order_key`, labelled with
:func:`~sweeplab.values.label` (``[64]``, never ``(64,)``) and coloured by
its position in that order. Internally a value is replaced by its integer
position ("code") before grouping, so no figure depends on how pandas or the
store happened to spell a value.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd

from sweeplab.analysis.curves import mean_curves, trial_history
from sweeplab.report import style
from sweeplab.report.style import figure, legend_outside, metric_label, styled
from sweeplab.values import canonical, is_numeric_axis, label, sort_values

MAX_COLOURED = 8  # beyond this, lines take a sequential colour map
FEW_EPOCHS = 15  # curves with at most this many points carry markers


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


def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def codes(series: pd.Series) -> tuple[pd.Series, list]:
    """Replace each swept value by its position in :func:`~sweeplab.values.sort_values` order.

    Returns:
        ``(codes, values)``: an integer Series aligned with ``series`` and the
        sorted distinct canonical values (``values[code]`` is the value).
    """
    canon = series.map(canonical)
    values = sort_values(v for v in canon if not _is_nan(v))
    has_nan = any(_is_nan(v) for v in canon)
    if has_nan:
        values.append(float("nan"))
    pos = {v: i for i, v in enumerate(values) if not _is_nan(v)}
    out = canon.map(lambda v: len(values) - 1 if _is_nan(v) else pos[v])
    return out.astype(int), values


_integer_epochs = style.integer_epochs


def _marker(n_points: int, i: int = 0, hollow: bool = False) -> dict:
    """Markers for short curves (a 1-point line is invisible); hollow ones for
    training curves, so train and validation differ even without a line."""
    if n_points > FEW_EPOCHS:
        return {}
    return {"marker": style.marker(i), "ms": 4.5} | ({"mfc": "white"} if hollow else {})


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
                    s = hist[col].dropna()
                    ax.plot(s.index, s.to_numpy(), color=style.color(i), label=split,
                            **_marker(len(s), i, hollow=split == "train"))
            _integer_epochs(ax, hist.index)
            ax.set_xlabel("epoch")
            ax.set_ylabel(style.UNITS.get(m.rsplit("_", 1)[-1], m))
            ax.set_title(m)
        legend_outside(axs[-1], title="split")
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def mean_learning_curves(epochs, trials, axis: str | None, metrics=None, splits=("train", "val"), title=None):
    """Mean curves per value of ``axis`` with a ±1 std band over seeds.

    One panel per metric; colour (and marker, for short runs) is the axis
    value, line style the split (solid validation, dashed training).
    """
    names = _metrics_of(epochs, metrics)
    if axis:
        code, values = codes(trials[axis])
        trials = trials.assign(**{axis: code})
    else:
        values = ["all"]
    colours = _colours(len(values))
    fig = figure(3.3 * max(1, len(names)) + 1.6, 3.2)
    dash = {"val": "-", "train": "--"}
    with styled():
        axs = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
        short = False
        for ax, m in zip(axs, names):
            seen_epochs: list = []
            for split in splits:
                curves = mean_curves(epochs, trials, axis, split, m)
                for v, c in curves.groupby("value", sort=False):
                    i = 0 if not axis else int(v)
                    c = c.sort_values("epoch")
                    seen_epochs += c["epoch"].tolist()
                    short = short or len(c) <= FEW_EPOCHS
                    ax.plot(c["epoch"], c["mean"], color=colours[i], ls=dash.get(split, "-"),
                            label=label(values[i]) if split == splits[-1] and axis else None,
                            **_marker(len(c), i, hollow=split == "train"))
                    sd = c["std"].fillna(0.0)
                    ax.fill_between(c["epoch"], c["mean"] - sd, c["mean"] + sd, color=colours[i], alpha=0.15, lw=0)
            _integer_epochs(ax, seen_epochs)
            ax.set_xlabel("epoch")
            ax.set_ylabel(style.UNITS.get(m.rsplit("_", 1)[-1], m))
            ax.set_title(m if len(splits) > 1 else f"{splits[0]} {m}")
        if axis and len(values) <= 24:
            legend_outside(axs[-1], title=axis)
        key = None
        if len(splits) > 1:
            key = ("solid line, filled marker: validation; dashed line, open marker: training" if short
                   else "solid: validation, dashed: training")
        if title or key:
            fig.suptitle(title or key, fontsize=9)
    return fig


def _aggregate(frame: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof=1) and n of each metric per group of integer codes."""
    num = frame[metrics].apply(pd.to_numeric, errors="coerce")
    g = num.groupby([frame[k] for k in keys], sort=True)
    mean, std, n = g.mean(), g.std(ddof=1), g.count()
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[m], out[f"{m}_std"], out[f"{m}_n"] = mean[m], std[m], n[m]
    return out.reset_index()


def _positions(values):
    """x positions: numbers as numbers (log scale when they span > 20x), else categories."""
    if is_numeric_axis(values):
        arr = np.asarray(values, float)
        log = bool(np.all(arr > 0) and arr.max() / arr.min() > 20)
        return arr, log, None
    return np.arange(len(values), dtype=float), False, [label(v) for v in values]


def effect_plot(trials: pd.DataFrame, axis: str, metrics: list[str], by: str | None = None, title=None):
    """Metric against the value of a sweep axis, mean ± std over seeds as error bars.

    A numeric axis is a numeric x axis and its points are joined; a
    categorical one (optimizer, activation, list-valued widths) is drawn as
    separate points with error bars, dodged when there are several lines.

    Args:
        trials: trials frame.
        axis: the swept path on the x axis.
        metrics: metric columns, one panel each (e.g. test accuracy and loss).
        by: another axis: one colour per value of it (like seed 002 fig. 3).
    """
    metrics = [m for m in metrics if m in trials.columns]
    xcode, xvalues = codes(trials[axis])
    frame = trials.assign(_x=xcode)
    keys = ["_x"]
    lines: list = [None]
    if by:
        bcode, lines = codes(trials[by])
        frame = frame.assign(_by=bcode)
        keys.append("_by")
    agg = _aggregate(frame, keys, metrics)
    x, log, ticks = _positions(xvalues)
    categorical = ticks is not None
    colours = _colours(len(lines))
    fig = figure(3.3 * max(1, len(metrics)) + (1.6 if by else 0.6), 3.0)
    with styled():
        axs = fig.subplots(1, max(1, len(metrics)), squeeze=False)[0]
        for ax, m in zip(axs, metrics):
            for j, lv in enumerate(lines):
                part = agg if not by else agg[agg["_by"] == j]
                part = part.sort_values("_x")
                px = x[part["_x"].to_numpy(int)]
                shift = (j - (len(lines) - 1) / 2) * min(0.15, 0.6 / len(lines)) if categorical and by else 0.0
                ax.errorbar(px + shift, part[m], yerr=part[f"{m}_std"].fillna(0.0), marker=style.marker(j), ms=4,
                            capsize=3, color=colours[j], ls="none" if categorical else "-",
                            label=None if not by else label(lv))
            if log:
                ax.set_xscale("log")
            if categorical:
                crowded = max(map(len, ticks)) * len(ticks) > 9 * 3.3  # about 9 characters per inch of panel
                ax.set_xticks(x, ticks, rotation=30 if crowded else 0, ha="right" if crowded else "center")
                ax.set_xlim(-0.5, len(x) - 0.5)
                ax.grid(False, axis="x")
            ax.set_xlabel(axis)
            ax.set_ylabel(metric_label(m))
        if by:
            legend_outside(axs[-1], title=by)
        fig.suptitle(title or "mean ± std over seeds", fontsize=10)
    return fig


def _averages_other_axes(trials: pd.DataFrame, rcode: pd.Series, ccode: pd.Series) -> bool:
    """Whether a cell mixes several configurations (so it averages over other axes)."""
    if "config_id" not in trials.columns:
        return False
    per_cell = trials.groupby([rcode, ccode])["config_id"].nunique()
    return bool((per_cell > 1).any())


def heatmap(trials: pd.DataFrame, row_axis: str, col_axis: str, metric: str, title=None):
    """Mean of a metric over the grid of two sweep axes, cells annotated.

    The title says "other axes" only when a cell averages several
    configurations, and is wrapped to the figure's width.
    """
    rcode, rvalues = codes(trials[row_axis])
    ccode, cvalues = codes(trials[col_axis])
    cells = pd.to_numeric(trials[metric], errors="coerce").groupby([rcode, ccode]).mean()
    vals = np.full((len(rvalues), len(cvalues)), np.nan)
    for (i, j), v in cells.items():
        vals[int(i), int(j)] = v
    nr, nc = vals.shape
    col_labels, row_labels = [label(c) for c in cvalues], [label(r) for r in rvalues]
    longest = max(map(len, col_labels)) if col_labels else 1
    width = min(max(5.0, 2.6 + max(0.75, 0.09 * longest) * nc), 11.0)
    height = min(max(3.0, 1.7 + 0.5 * nr), 9.0)
    fig = figure(width, height)
    with styled():
        ax = fig.add_subplot()
        im = ax.imshow(vals, cmap=style.SEQUENTIAL, aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(nc), col_labels, rotation=30 if nc > 6 or longest > 8 else 0)
        ax.set_yticks(range(nr), row_labels)
        ax.set_xlabel(col_axis)
        ax.set_ylabel(row_axis)
        if nr * nc <= 400:
            finite = vals[np.isfinite(vals)]
            mid = (finite.min() + finite.max()) / 2 if finite.size else 0
            fs = 8 if nr * nc <= 64 else 7
            for i in range(nr):
                for j in range(nc):
                    v = vals[i, j]
                    if math.isfinite(v):
                        ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=fs,
                                color="white" if v < mid else "black")
        fig.colorbar(im, ax=ax, label=metric_label(metric))
        if title is None:
            title = f"{metric_label(metric)}: mean over seeds"
            if _averages_other_axes(trials, rcode, ccode):
                title += " and the other axes"
        ax.set_title(textwrap.fill(title, width=max(30, int(width * 9))), fontsize=9)
    return fig
