"""Study-level report sections: best configuration, per-axis tables, top-N,
statistical comparison, effect plots, mean learning curves, heat map."""

from __future__ import annotations

import pandas as pd

from sweeplab.analysis import stats, tables
from sweeplab import values as V
from sweeplab.analysis.rundata import RunData, config_key
from sweeplab.report import figures_study as fs
from sweeplab.report.model import FigureItem, Section, TableItem, TextItem
from sweeplab.vocab.analyses import ANALYSES

MAX_CURVE_AXES = 4  # mean-curve figures: at most this many axes


def _section(name: str) -> Section:
    """An empty section titled as the analysis registry says."""
    return Section(name, ANALYSES.get(name).title)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").lower() or "x"


def best(rd: RunData, metrics, metric: str) -> Section:
    sec = _section("best")
    sel = rd.selection if metric == rd.selection.metric else tables.Selection(metric, None, metric.split("_", 1)[0])
    sec.items.append(TextItem(tables.best_sentence(rd.trials, rd.axes, metrics, sel=sel), "lead"))
    return sec


def _display(table, rd: RunData, metric: str) -> list[str]:
    sel = rd.selection if metric == rd.selection.metric else None
    return tables.display_columns(table, sel)


def axis_tables(rd: RunData, metrics, metric: str) -> Section:
    sec = _section("tables")
    multi = len(rd.axes) > 1
    for axis in rd.axes:
        t = tables.axis_table(rd.trials, axis, metrics, sort_by=metric)
        if multi:
            note = ("Means over seeds and over the values of the other axes; ± is the seed spread (the mean, "
                    "over the configurations with this value, of the standard deviation over seeds), so it "
                    "does not include the effect of the other axes.")
        else:
            note = "Mean ± standard deviation over seeds."
        note += " Every metric is in the CSV."
        sec.items.append(TableItem(
            f"axis_{_slug(axis)}", f"{axis}: one row per value, sorted by {tables.label(metric)} (★ best).",
            tables.format_table(t, columns=_display(t, rd, metric)), t, highlight=[0], note=note))
    return sec


def top_table(rd: RunData, metrics, metric: str, top_n: int) -> Section:
    sec = _section("top")
    t = tables.config_table(rd.trials, rd.axes, metrics, sort_by=metric, majority=rd.majority_share())
    shown = t.head(top_n)
    seeds = tables.seeds_note(t)
    what = f"by {tables.label(metric)}, mean ± std over seeds" + (f" ({seeds})" if seeds else "")
    caption = f"Top {len(shown)} of {len(t)} configurations {what} (★ best)."
    if len(t) <= top_n:
        caption = f"All {len(t)} configurations {what} (★ best)."
    disp = tables.format_table(shown, columns=_display(t, rd, metric))
    note = ("time/epoch is the trial's share: the compiled group's time per epoch divided by the trials trained in it; "
            "every metric is in the CSV.")
    flagged = _flag_note(t)
    if flagged:
        sec.items.append(TextItem(flagged, "note"))
    sec.items.append(TableItem("configurations", caption, disp, t, highlight=[0], note=note))
    return sec


def _flag_note(t) -> str:
    parts = []
    if "degenerate" in t.columns and t["degenerate"].any():
        k = int(t["degenerate"].sum())
        parts.append(f"⚠ {k} configuration{'s' if k != 1 else ''} predict{'s' if k == 1 else ''} a single class "
                     "(F1 of 0, or accuracy equal to the majority class's share): degenerate classifiers, not "
                     "good ones.")
    if "diverged" in t.columns and t["diverged"].any():
        k = int(t["diverged"].sum())
        parts.append(f"⚠ {k} trial{'s' if k != 1 else ''} diverged (a non-finite loss); their numbers are from "
                     "the epoch before.")
    return " ".join(parts)


def comparison(rd: RunData, metric: str, top_n: int, alpha: float = 0.05) -> Section:
    sec = _section("comparison")
    t = rd.trials
    if not stats.comparison_possible(t, "config_id"):
        sec.items.append(TextItem(
            "Each configuration was run with one seed only, so no statistical comparison is possible: "
            "run the study with repeats ≥ 3 (ideally 5 or more) to tell configurations apart.", "note"))
        return sec
    key = config_key(t, rd.axes)
    cmp = stats.compare_with_best(t.assign(configuration=key), "configuration", metric, alpha=alpha)
    tested = cmp[~cmp["best"] & ~cmp["low_power"] & cmp["p_holm"].notna()]
    same = tested[~tested["distinguishable"].astype(bool)]
    n_tests = int(cmp.attrs.get("tests", 0))
    text = (f"Welch's t-test over seeds on {tables.label(metric)}, best against each other configuration, "
            f"p-values corrected for {n_tests} comparison{'s' if n_tests != 1 else ''} by Holm's method, at the "
            f"{int((1 - alpha) * 100)}% level: ")
    if len(cmp) == 1:
        text += "there is only one configuration."
    elif tested.empty:
        text += "no test has enough seeds to decide."
    elif same.empty:
        text += f"every other configuration tested is significantly worse (corrected p < {alpha})."
    else:
        text += (f"{len(same)} of {len(tested)} cannot be distinguished from the best (corrected p ≥ {alpha}): "
                 "the difference is within seed noise; they are marked ≈ in the table.")
    low = int(cmp["low_power"].sum())
    if low:
        text += (f" {low} comparison{'s have' if low != 1 else ' has'} fewer than {stats.MIN_SEEDS_FOR_TEST} "
                 "seeds on a side: such a test has little power, so no verdict is given (run more repeats).")
    sec.items.append(TextItem(text))

    def verdict(b, d, lo):
        if b:
            return "best"
        if lo:
            return "too few seeds"
        return "within seed noise" if d is False else ("worse" if d else "no test")

    disp = pd.DataFrame({
        "": ["★" if b else ("≈" if d is False else "") for b, d in zip(cmp["best"], cmp["distinguishable"])],
        "configuration": cmp["configuration"].map(V.label),
        tables.label(metric): [stats.format_mean_std(m, s) for m, s in zip(cmp["mean"], cmp["std"])],
        "n": cmp["n"],
        "difference": ["" if b else f"{x:+.4f}" for b, x in zip(cmp["best"], cmp["diff"])],
        "p (Holm)": ["" if b else ("n/a" if pd.isna(p) else f"{p:.3g}") for b, p in zip(cmp["best"], cmp["p_holm"])],
        "verdict": [verdict(b, d, lo) for b, d, lo in zip(cmp["best"], cmp["distinguishable"], cmp["low_power"])],
    })
    shown = disp.head(top_n)
    caption = "Comparison with the best configuration" + (f" (first {top_n} of {len(disp)} shown)" if len(disp) > top_n else "")
    sec.items.append(TableItem("comparison", caption + ".", shown, cmp, highlight=[0],
                               note="Uncorrected p-values are in the CSV (column p)."))
    return sec


def effects(rd: RunData, metrics, metric: str) -> Section:
    sec = _section("effects")
    pair = [metric]
    loss = metric.split("_", 1)[0] + "_loss"
    if loss != metric and loss in rd.trials.columns and rd.trials[loss].notna().any():
        pair.append(loss)
    for i, axis in enumerate(rd.axes):
        others = [a for a in rd.axes if a != axis and rd.trials[a].map(V.canonical).nunique() <= 8]
        by = others[0] if len(rd.axes) == 2 and others else None
        fig = fs.effect_plot(rd.trials, axis, pair, by=by)
        cap = f"{', '.join(tables.label(m) for m in pair)} against {axis}; points are means over seeds, bars ±1 std"
        cap += f", one colour per value of {by}." if by else "."
        sec.items.append(FigureItem(f"effect_{_slug(axis)}", cap, fig))
    return sec


def curve_metrics(rd: RunData, metrics) -> list[str]:
    """The metrics drawn as learning curves: the study's ``[report] metrics``
    if given, else the loss and the ranking metric (the CSVs and the notebook
    have every metric)."""
    if metrics:
        return [m.split("_", 1)[1] for m in metrics if "_" in m] + list(metrics)
    return list(dict.fromkeys(["loss", tables.base_metric(rd.selection.metric)]))


def curves(rd: RunData, metrics) -> Section:
    sec = _section("curves")
    base = curve_metrics(rd, metrics)
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
    sec = _section("heatmap")
    axes = rd.axes
    pairs = [(axes[i], axes[j]) for i in range(len(axes)) for j in range(i + 1, len(axes))][:3]
    for r, c in pairs:
        fig = fs.heatmap(rd.trials, r, c, metric)
        sec.items.append(FigureItem(f"heatmap_{_slug(r)}__{_slug(c)}",
                                    f"{tables.label(metric)} over {r} × {c}, mean over seeds"
                                    + (" and the other axes." if len(axes) > 2 else "."), fig))
    return sec
