"""Report sections of a search run (``[search] strategy`` random, tpe or cmaes).

* ``search_history``: each configuration's value in the order it was asked,
  with the best so far (Optuna's ``plot_optimization_history``, drawn here).
* ``importance``: parameter importance from Optuna's default evaluator
  (fANOVA, Hutter et al. 2014, "An efficient approach for assessing
  hyperparameter importance") on the configurations' mean values.
* ``slices``: value against each of the most important parameters (Optuna's
  ``plot_slice``).
* ``contour``: value over the plane of the two most important parameters
  (Optuna's ``plot_contour``, drawn here): filled contours interpolated
  linearly between the configurations (on a log scale for a log axis; a
  choice axis at its choices' positions), the configurations as dots, the
  best as a star.

The best configuration and the top-N table with the seeds' mean ± std are the
``best`` and ``top`` sections every run has. A configuration's value is the
mean over its seeds of the report's ranking metric (validation by default:
what the search optimised). Pruned trials are not ranked (the configuration's
seeds did not all finish); they are counted in the report's facts.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from sweeplab.analysis import tables
from sweeplab.analysis.rundata import RunData
from sweeplab.report.model import FigureItem, Section, TableItem, TextItem
from sweeplab.report.style import figure, metric_label, styled
from sweeplab.vocab.analyses import ANALYSES

TOP_SLICES = 4  # slice plots for at most this many parameters


def is_search(rd: RunData) -> bool:
    """Whether ``rd`` is a random or TPE search run (from its stored study)."""
    return ((rd.study.get("search") or {}).get("strategy") or "grid") != "grid"


def _space(rd: RunData):
    from sweeplab.spec.space import parse_space

    return {a.path: a for a in parse_space(rd.study.get("sweep") or {}, "<study>")}


def configurations(rd: RunData, metric: str, pruned: bool = False) -> pd.DataFrame:
    """One row per finished configuration, in the order it was asked: ``number``, the axes, ``value``, ``std``, ``n``.

    ``pruned=True``: the pruned configurations too (column ``pruned``; their ``value`` is NaN and
    ``stopped`` the mean over their trials of ``metric`` when they stopped), numbered in the same order.
    """
    cols = ["number", *rd.axes, "value", "std", "n"] + (["pruned", "stopped"] if pruned else [])
    t = rd.trials.assign(_pruned=False)
    if pruned and not rd.pruned.empty:
        t = pd.concat([t, rd.pruned.assign(_pruned=True)])
    if t.empty or metric not in t.columns:
        return pd.DataFrame(columns=cols)
    t = t.assign(_order=[rd.order.get(tid, i) for i, tid in enumerate(t.index)])
    rows = []
    for cid, part in t.groupby("config_id", sort=False):
        values = pd.to_numeric(part[metric], errors="coerce")
        cut = bool(part["_pruned"].any())
        rows.append({"_order": part["_order"].min(), **{a: part[a].iloc[0] for a in rd.axes},
                     "value": np.nan if cut else values.mean(),
                     "std": values.std(ddof=1) if len(values) > 1 else 0.0,
                     "n": int(values.notna().sum()), "pruned": cut, "stopped": values.mean() if cut else np.nan})
    out = pd.DataFrame(rows).sort_values("_order", kind="mergesort").drop(columns="_order").reset_index(drop=True)
    out.insert(0, "number", np.arange(1, len(out) + 1))
    return out[cols]


def _maximize(metric: str) -> bool:
    return not tables.lower_is_better(metric)


def history(rd: RunData, metric: str) -> Section:
    sec = Section("search_history", ANALYSES.get("search_history").title)
    c = configurations(rd, metric, pruned=True)
    if c.empty:
        sec.items.append(TextItem("No configuration has finished yet.", "note"))
        return sec
    best = (c["value"].cummax() if _maximize(metric) else c["value"].cummin()).ffill()
    cut = c[c["pruned"]]
    fig = figure(6.0, 3.0)
    with styled():
        ax = fig.subplots()
        ax.plot(c["number"], c["value"], "o", ms=3, alpha=0.6, label="configuration (mean over seeds)")
        if len(cut):
            ax.plot(cut["number"], cut["stopped"], "x", ms=4, color="0.5", label="pruned (when it stopped)")
        ax.plot(c["number"], best, "-", lw=1.5, label="best so far")
        ax.set_xlabel("configuration (in the order asked)")
        ax.set_ylabel(metric_label(metric))
        ax.legend(loc="best", fontsize=8)
    strategy = (rd.study.get("search") or {}).get("strategy", "?")
    text = f"{tables.label(metric)} of each configuration in the order {strategy} asked for it, and the best so far."
    if len(cut):
        text += (f" {len(cut)} of {len(c)} configurations were pruned (x: their value when they stopped; "
                 "not ranked).")
    sec.items.append(FigureItem("search_history", text, fig))
    return sec


def importances(rd: RunData, metric: str) -> dict[str, float]:
    """``{parameter: importance}`` (summing to 1), from Optuna's default evaluator (fANOVA)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from sweeplab.engine.search import distribution

    c = configurations(rd, metric).dropna(subset=["value"])
    space = {p: a for p, a in _space(rd).items() if p in c.columns}
    dists = {p: distribution(a) for p, a in space.items()}
    study = optuna.create_study(direction="maximize" if _maximize(metric) else "minimize")
    for _, row in c.iterrows():
        params = {p: _param(row[p], dists[p]) for p in dists}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(row["value"])))
    if len(study.trials) < 2 or not dists:
        return {}
    return dict(optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)))


def _param(value, dist):
    import json

    if hasattr(dist, "choices"):
        v = value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(
            list(value) if isinstance(value, tuple) else value)
        return v if v in dist.choices else dist.choices[0]
    return type(dist.low)(value)


def importance(rd: RunData, metric: str) -> Section:
    sec = Section("importance", ANALYSES.get("importance").title)
    imp = importances(rd, metric)
    if not imp:
        sec.items.append(TextItem("Parameter importance needs at least two finished configurations.", "note"))
        return sec
    data = pd.DataFrame({"parameter": list(imp), "importance": list(imp.values())})
    shown = data.assign(importance=[f"{v:.3f}" for v in data["importance"]])
    sec.items.append(TableItem("importance", f"Share of the variance of {tables.label(metric)} each parameter "
                               "explains (fANOVA on the configurations' means over seeds).", shown, data,
                               highlight=[0]))
    return sec


def slices(rd: RunData, metric: str) -> Section:
    sec = Section("slices", ANALYSES.get("slices").title)
    c = configurations(rd, metric).dropna(subset=["value"])
    if c.empty:
        sec.items.append(TextItem("No configuration has finished yet.", "note"))
        return sec
    imp = importances(rd, metric) if len(c) > 1 else {}
    space = _space(rd)
    params = [p for p in (list(imp) or list(space)) if p in c.columns][:TOP_SLICES]
    fig = figure(3.0 * max(1, len(params)), 3.0)
    with styled():
        axs = fig.subplots(1, max(1, len(params)), squeeze=False)[0]
        for ax, p in zip(axs, params):
            a = space[p]
            x = c[p] if a.kind != "choice" else pd.Series([str(v) for v in c[p]])
            ax.scatter(x, c["value"], c=c["number"], cmap="viridis", s=12)
            if a.log:
                ax.set_xscale("log")
            ax.set_xlabel(p)
            ax.set_ylabel(metric_label(metric))
    sec.items.append(FigureItem("search_slices", f"{tables.label(metric)} against the "
                                f"{len(params)} most important parameter(s); colour: the order asked "
                                "(dark: early).", fig))
    return sec


def _plane(c: pd.DataFrame, a) -> tuple[np.ndarray, list[str] | None]:
    """Positions of an axis's values on a plot: log10 of a log axis, codes of a choice (with their labels)."""
    if a.kind == "choice":  # a list value ([8]) is stored canonical ((8,)): matched as values, not text
        from sweeplab import values as V

        codes = [next((i for i, ch in enumerate(a.choices) if V.same(ch, v)), np.nan) for v in c[a.path]]
        return np.array(codes, float), [str(ch) for ch in a.choices]
    x = pd.to_numeric(c[a.path], errors="coerce").to_numpy(float)
    return (np.log10(x) if a.log else x), None


def contour(rd: RunData, metric: str) -> Section:
    sec = Section("contour", ANALYSES.get("contour").title)
    c = configurations(rd, metric).dropna(subset=["value"])
    space = _space(rd)
    imp = importances(rd, metric) if len(c) > 1 else {}
    params = [p for p in (list(imp) or list(space)) if p in c.columns and p in space][:2]
    if len(params) < 2 or len(c) < 3:
        sec.items.append(TextItem("A contour needs two parameters and at least three finished configurations.",
                                  "note"))
        return sec
    from matplotlib.tri import Triangulation

    (x, xlab), (y, ylab) = (_plane(c, space[p]) for p in params)
    v = c["value"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(v)
    x, y, v = x[ok], y[ok], v[ok]
    best = int(np.argmax(v) if _maximize(metric) else np.argmin(v))
    fig = figure(5.0, 4.0)
    filled = False
    with styled():
        ax = fig.subplots()
        try:
            tri = Triangulation(x, y)
            cs = ax.tricontourf(tri, v, levels=12, cmap="viridis" if _maximize(metric) else "viridis_r")
            fig.colorbar(cs, ax=ax, label=metric_label(metric))
            filled = True
        except (ValueError, RuntimeError):  # fewer than 3 distinct points, or all on a line
            sc = ax.scatter(x, y, c=v, cmap="viridis" if _maximize(metric) else "viridis_r", s=20)
            fig.colorbar(sc, ax=ax, label=metric_label(metric))
        ax.plot(x, y, "o", ms=3, color="black", alpha=0.6)
        ax.plot(x[best], y[best], "*", ms=14, color="white", markeredgecolor="black", clip_on=False, zorder=5)
        for set_label, set_ticks, p, labels in ((ax.set_xlabel, ax.set_xticks, params[0], xlab),
                                                (ax.set_ylabel, ax.set_yticks, params[1], ylab)):
            a = space[p]
            set_label(p + (" (log10)" if a.log else ""))
            if labels is not None:
                set_ticks(range(len(labels)), labels)
    how = ("filled contours interpolated between the configurations" if filled
           else "too few distinct configurations for contours: each one coloured by its value")
    sec.items.append(FigureItem("search_contour", f"{tables.label(metric)} over {params[0]} and {params[1]}, "
                                f"the two most important parameters: {how} (dots; ★ best).", fig))
    return sec


__all__ = ["configurations", "contour", "history", "importance", "importances", "is_search", "slices"]
