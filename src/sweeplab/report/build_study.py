"""Study-level report sections: best configuration, per-axis tables, top-N,
statistical comparison, effect plots, mean learning curves, heat map."""

from __future__ import annotations

import pandas as pd

from sweeplab.analysis import stats, tables
from sweeplab.analysis.notebook import _config_key
from sweeplab.analysis.rundata import RunData
from sweeplab.report import figures_study as fs
from sweeplab.report.model import FigureItem, Section, TableItem, TextItem

MAX_CURVE_AXES = 4  # mean-curve figures: at most this many axes


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower() or "x"


def best(rd: RunData, metrics, metric: str) -> Section:
    sec = Section("best", "Best configuration")
    sec.items.append(TextItem(tables.best_sentence(rd.trials, rd.axes, metrics, metric=metric), "lead"))
    return sec


def axis_tables(rd: RunData, metrics, metric: str) -> Section:
    sec = Section("tables", "Results per sweep value")
    multi = len(rd.axes) > 1
    for axis in rd.axes:
        t = tables.axis_table(rd.trials, axis, metrics, sort_by=metric)
        note = "Averaged over seeds and over the values of the other axes." if multi else "Mean ± std over seeds."
        sec.items.append(TableItem(
            f"axis_{_slug(axis)}", f"{axis}: one row per value, sorted by {tables._label(metric)} (★ best).",
            tables.format_table(t), t, highlight=[0], note=note))
    return sec


def top_table(rd: RunData, metrics, metric: str, top_n: int) -> Section:
    sec = Section("top", "Configurations")
    t = tables.config_table(rd.trials, rd.axes, metrics, sort_by=metric)
    shown = t.head(top_n)
    caption = f"Top {len(shown)} of {len(t)} configurations by {tables._label(metric)}, mean ± std over seeds (★ best)."
    if len(t) <= top_n:
        caption = f"All {len(t)} configurations by {tables._label(metric)}, mean ± std over seeds (★ best)."
    disp = tables.format_table(shown)
    if "config_id" in disp.columns and rd.axes:
        disp = disp.drop(columns=["config_id"])
    sec.items.append(TableItem("configurations", caption, disp, t, highlight=[0]))
    return sec


def comparison(rd: RunData, metric: str, top_n: int, alpha: float = 0.05) -> Section:
    sec = Section("comparison", "Is the best configuration really better?")
    t = rd.trials
    if not stats.comparison_possible(t, "config_id"):
        sec.items.append(TextItem(
            "Each configuration was run with one seed only, so no statistical comparison is possible: "
            "run the study with repeats ≥ 2 (ideally 5 or more) to tell configurations apart.", "note"))
        return sec
    key = _config_key(t, rd.axes)
    cmp = stats.compare_with_best(t.assign(configuration=key), "configuration", metric, alpha=alpha)
    same = cmp[cmp["distinguishable"].eq(False)]
    text = (f"Welch's t-test over seeds on {tables._label(metric)}, best against each other configuration at the "
            f"{int((1 - alpha) * 100)}% level: ")
    if len(cmp) == 1:
        text += "there is only one configuration."
    elif same.empty:
        text += "every other configuration is significantly worse (p < 0.05)."
    else:
        text += (f"{len(same)} of {len(cmp) - 1} cannot be distinguished from the best (p ≥ {alpha}); "
                 "they are marked ≈ in the table.")
    sec.items.append(TextItem(text))
    disp = pd.DataFrame({
        "": ["★" if b else ("≈" if d is False else "") for b, d in zip(cmp["best"], cmp["distinguishable"])],
        "configuration": cmp["configuration"],
        tables._label(metric): [stats.format_mean_std(m, s) for m, s in zip(cmp["mean"], cmp["std"])],
        "n": cmp["n"],
        "difference": ["" if b else f"{x:+.4f}" for b, x in zip(cmp["best"], cmp["diff"])],
        "p (Welch)": ["" if b else ("n/a (1 seed)" if pd.isna(p) else f"{p:.3g}") for b, p in zip(cmp["best"], cmp["p"])],
        "verdict": ["best" if b else ("not distinguishable" if d is False else ("worse" if d else "no test"))
                    for b, d in zip(cmp["best"], cmp["distinguishable"])],
    })
    shown = disp.head(top_n)
    caption = "Comparison with the best configuration" + (f" (first {top_n} of {len(disp)} shown)" if len(disp) > top_n else "")
    sec.items.append(TableItem("comparison", caption + ".", shown, cmp, highlight=[0]))
    return sec


def effects(rd: RunData, metrics, metric: str) -> Section:
    sec = Section("effects", "Effect of each sweep axis")
    pair = [metric]
    loss = metric.split("_", 1)[0] + "_loss"
    if loss != metric and loss in rd.trials.columns and rd.trials[loss].notna().any():
        pair.append(loss)
    for i, axis in enumerate(rd.axes):
        others = [a for a in rd.axes if a != axis and rd.trials[a].map(str).nunique() <= 8]
        by = others[0] if len(rd.axes) == 2 and others else None
        fig = fs.effect_plot(rd.trials, axis, pair, by=by)
        cap = f"{', '.join(tables._label(m) for m in pair)} against {axis}; points are means over seeds, bars ±1 std"
        cap += f", one line per value of {by}." if by else "."
        sec.items.append(FigureItem(f"effect_{_slug(axis)}", cap, fig))
    return sec


def curves(rd: RunData, metrics) -> Section:
    sec = Section("curves", "Learning curves")
    base = [m.split("_", 1)[1] for m in (metrics or []) if "_" in m] + list(metrics or [])
    if not rd.axes:
        fig = fs.mean_learning_curves(rd.epochs, rd.trials, None, base or None)
        sec.items.append(FigureItem("curves", "Mean training (dashed) and validation (solid) curves over seeds, "
                                    "band ±1 std.", fig))
        return sec
    for axis in rd.axes[:MAX_CURVE_AXES]:
        fig = fs.mean_learning_curves(rd.epochs, rd.trials, axis, base or None)
        sec.items.append(FigureItem(
            f"curves_{_slug(axis)}",
            f"Mean learning curves per value of {axis} (solid validation, dashed training), band ±1 std over "
            + ("seeds and the other axes." if len(rd.axes) > 1 else "seeds."), fig))
    return sec


def heatmaps(rd: RunData, metric: str) -> Section:
    sec = Section("heatmap", "Grid of two axes")
    axes = rd.axes
    pairs = [(axes[i], axes[j]) for i in range(len(axes)) for j in range(i + 1, len(axes))][:3]
    for r, c in pairs:
        fig = fs.heatmap(rd.trials, r, c, metric)
        sec.items.append(FigureItem(f"heatmap_{_slug(r)}__{_slug(c)}",
                                    f"{tables._label(metric)} over {r} × {c}, mean over seeds"
                                    + (" and the other axes." if len(axes) > 2 else "."), fig))
    return sec
