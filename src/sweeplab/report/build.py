"""Choose the analyses of a report and build its sections.

A study's ``[report]`` section may list ``analyses`` and ``metrics`` and set
``top_n``; otherwise sensible defaults apply: every study-level analysis that
the sweep allows, and the per-trial ones the run's data supports
(classification: curves, confusion, scores, PR curve for binary heads;
2-D data: decision regions; gradient norms when recorded; filters for conv models).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pandas as pd

from sweeplab.analysis import curves, model_view, tables
from sweeplab.analysis.rundata import RunData
from sweeplab.report import build_search as bsearch
from sweeplab.report import build_study as bs
from sweeplab.report import build_trial as bt
from sweeplab.report.model import Report, Section, TextItem
from sweeplab.vocab.analyses import ANALYSES as _TABLE

ANALYSES = tuple(_TABLE.names())
STUDY_ANALYSES = tuple(_TABLE.names("study"))
TRIAL_ANALYSES = tuple(_TABLE.names("trial"))


@dataclasses.dataclass(frozen=True)
class Job:
    """What a builder gets: the run, its representative trial and the report options."""

    rd: RunData
    ctx: bt.TrialContext | None
    metrics: list[str] | None
    metric: str
    top_n: int


@dataclasses.dataclass(frozen=True)
class Builder:
    """How one analysis of :data:`sweeplab.vocab.analyses.ANALYSES` is made.

    ``build(job)`` returns a Section (study level) or the items of one (trial
    level, titled from the registry); ``applies(rd, ctx)``: whether a default
    report shows it, beyond what the registry entry declares (sweep axes, a trial).
    """

    build: Callable[[Job], "Section | list"]
    applies: Callable[[RunData, "bt.TrialContext"], bool] = lambda rd, ctx: True


def _trial(fn, applies=Builder.applies) -> Builder:
    """A per-trial builder ``fn(ctx, metrics) -> items``."""
    return Builder(lambda job: fn(job.ctx, job.metrics), applies)


def _has_classes(rd, ctx) -> bool:
    return bool(ctx.class_heads())


def _has_conv(rd, ctx) -> bool:
    return bool(ctx.params) and model_view.first_layer_filters(ctx.params) is not None


BUILDERS: dict[str, Builder] = {
    "best": Builder(lambda j: bs.best(j.rd, j.metrics, j.metric)),
    "tables": Builder(lambda j: bs.axis_tables(j.rd, j.metrics, j.metric)),
    "top": Builder(lambda j: bs.top_table(j.rd, j.metrics, j.metric, j.top_n)),
    "comparison": Builder(lambda j: bs.comparison(j.rd, j.metric, j.top_n)),
    "curves": Builder(lambda j: bs.curves(j.rd, j.metrics)),
    "effects": Builder(lambda j: bs.effects(j.rd, j.metrics, j.metric)),
    "heatmap": Builder(lambda j: bs.heatmaps(j.rd, j.metric)),
    "search_history": Builder(lambda j: bsearch.history(j.rd, j.metric)),
    "importance": Builder(lambda j: bsearch.importance(j.rd, j.metric)),
    "slices": Builder(lambda j: bsearch.slices(j.rd, j.metric)),
    "contour": Builder(lambda j: bsearch.contour(j.rd, j.metric)),
    "history": _trial(bt.history),
    "model": _trial(bt.model, lambda rd, ctx: bool(ctx.params)),
    "confusion": _trial(bt.confusion, _has_classes),
    "f1": _trial(bt.f1, _has_classes),
    "pr_curve": _trial(bt.pr_curve, lambda rd, ctx: any(_binary(ctx, h) for h in ctx.class_heads())),
    "misclassified": _trial(bt.misclassified, lambda rd, ctx: _has_classes(rd, ctx) and _image_data(rd)),
    "regression": _trial(bt.regression, lambda rd, ctx: bool(ctx.regression_heads())),
    "gradients": _trial(bt.gradients,
                        lambda rd, ctx: curves.has_gradients(rd.epochs[rd.epochs["trial_id"] == ctx.tid])),
    "filters": _trial(bt.filters, _has_conv),
    "feature_maps": _trial(bt.feature_maps, _has_conv),
    "regions": _trial(bt.regions, lambda rd, ctx: _two_d(rd)),
}
"""``name -> Builder`` for every analysis of the registry (a test checks they match)."""


def build_section(job: Job, name: str) -> Section:
    """The report section of analysis ``name``."""
    out = BUILDERS[name].build(job)
    return out if isinstance(out, Section) else Section(name, _TABLE.get(name).title, out)


def check_analyses(names) -> list[str]:
    """The requested analysis names, checked; raises ValueError naming the accepted ones."""
    bad = [n for n in names if n not in _TABLE]
    if bad:
        raise ValueError(f"[report] analyses: unknown {', '.join(map(repr, bad))}; accepted: {', '.join(ANALYSES)}")
    return list(names)


def unmet_need(rd: RunData, name: str) -> str:
    """What analysis ``name`` needs and ``rd`` lacks (sweep axes, a grid or a search run,
    as the registry declares), or the empty string when it can be made."""
    info = _TABLE.get(name)
    if info.runs == "search" and not bsearch.is_search(rd):
        return info.needs
    if info.runs == "grid" and bsearch.is_search(rd):
        return "a grid (a search run samples its axes: see the search sections)"
    return info.needs if len(rd.axes) < info.min_axes else ""


def default_analyses(rd: RunData, ctx: bt.TrialContext | None) -> list[str]:
    """The analyses a report shows when the study does not list them: in the
    registry's order, those whose needs the run meets."""
    out = []
    for info in _TABLE:
        if unmet_need(rd, info.name):
            continue
        if info.level == "trial" and ctx is None:
            continue
        if info.level == "study" or BUILDERS[info.name].applies(rd, ctx):
            out.append(info.name)
    return out


def _binary(ctx, head) -> bool:
    p = ctx.predictions.get(f"proba/{head}")
    return p is not None and (np.ndim(p) == 1 or np.shape(p)[-1] <= 2)


def _data_section(rd: RunData) -> dict:
    return rd.study.get("data") or {}


def _input_shape(rd: RunData) -> tuple:
    """The dataset's input shape from the data registry; () when unknown."""
    try:
        from sweeplab.data import DATASETS

        return tuple(DATASETS.get(str(_data_section(rd).get("dataset"))).meta.get("shape") or ())
    except Exception:  # unknown dataset name or no data registry
        return ()


def _two_d(rd: RunData) -> bool:
    return _input_shape(rd) == (2,)


def _image_data(rd: RunData) -> bool:
    return len(_input_shape(rd)) == 3


def build_report(rd: RunData, *, analyses=None, metrics=None, top_n: int | None = None) -> Report:
    """All sections of the report for ``rd``."""
    spec = rd.report_spec
    analyses = analyses if analyses is not None else spec.get("analyses")
    metrics = list(metrics if metrics is not None else (spec.get("metrics") or [])) or None
    top_n = int(top_n or spec.get("top_n") or 20)
    if metrics != (list(spec.get("metrics") or []) or None):  # arguments override the study file
        rd = dataclasses.replace(rd, study={**rd.study, "report": {**spec, "metrics": metrics}})
    sections: list[Section] = []
    if rd.trials.empty:
        why = ("Every configuration of the search was pruned (a trial of each stopped early): nothing to "
               "rank. Prune less (a larger min_epochs or smaller reduction_factor, or fewer repeats) or "
               "search longer." if not rd.pruned.empty else
               "The run has no finished trials yet: run the study (again) to train them, then write the report.")
        return Report(rd.name, _description(rd), _facts(rd, None), [Section("empty", "No results", [
            TextItem(why, "note")])])
    sel = rd.selection
    metric = sel.metric
    tid = rd.representative_trial()
    ctx = bt.TrialContext(rd, tid) if tid else None
    chosen = check_analyses(analyses) if analyses is not None else default_analyses(rd, ctx)
    job = Job(rd, ctx, metrics, metric, top_n)
    for key in (k for k in chosen if _TABLE.get(k).level == "study"):
        needs = unmet_need(rd, key)
        if needs:
            sections.append(Section(key, _TABLE.get(key).title, [TextItem(f"'{key}' needs {needs}.", "note")]))
            continue
        sections.append(build_section(job, key))
    trial_keys = [k for k in chosen if _TABLE.get(k).level == "trial"]
    if trial_keys and ctx is not None:
        sections.append(Section("trial", f"Trial {tid} (best configuration by {sel.describe()}, first seed)",
                                [TextItem(_trial_text(rd, tid))]))
        for key in trial_keys:
            sections.append(build_section(job, key))
    damaged = _damaged(rd)
    if damaged:
        sections.append(Section("damaged", "Damaged trials", [TextItem(
            f"{len(damaged)} trial{'s' if len(damaged) != 1 else ''} of this run could not be read completely, so "
            "sections that need their saved files are missing or incomplete; run the study again to retrain "
            "them: " + "; ".join(f"{t}: {why}" for t, why in sorted(damaged.items())), "note")]))
    return Report(rd.name, _description(rd), _facts(rd, sel), sections)


def _damaged(rd: RunData) -> dict:
    """Trials whose saved files are missing or fail their checksum: those the
    store reports, and those the report itself failed to read."""
    found = dict(rd.damaged)
    finder = getattr(rd, "damaged_loader", None)
    if callable(finder):
        try:
            found.update({str(k): str(v) for k, v in (finder() or {}).items()})
        except Exception as exc:  # the store cannot be verified: say so once
            found.setdefault("(store)", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return found


def _description(rd: RunData) -> str:
    return str((rd.study.get("study") or {}).get("description", "") or "")


def _trial_text(rd: RunData, tid: str) -> str:
    from sweeplab import values as V

    row = rd.trials.loc[tid]
    where = ", ".join(f"{a} = {V.label(row[a])}" for a in rd.axes) or "the only configuration"
    return f"The analyses below are for one trial: {where}, seed {row.get('seed', '?')}."


def _pruned_facts(rd: RunData) -> list[tuple[str, str]]:
    """A search's pruned trials: how many, at which epochs they stopped, the configurations not ranked."""
    p = rd.pruned
    if p is None or p.empty or "status" not in p:
        return []
    stopped = p[p["status"] == "pruned"]
    at = sorted({int(e) for e in pd.to_numeric(stopped.get("epochs_run"), errors="coerce").dropna()})
    n_cfg = p["config_id"].nunique()
    return [("pruned trials", f"{len(stopped)}, stopped after epoch {', '.join(map(str, at))}; their {n_cfg} "
                              f"configuration{'s are' if n_cfg != 1 else ' is'} not ranked (not every seed "
                              "finished)")]


def _facts(rd: RunData, sel) -> list[tuple[str, str]]:
    t = rd.trials
    n_cfg = t["config_id"].nunique() if "config_id" in t else len(t)
    facts = [("trials", f"{len(t)} ({n_cfg} configurations)"),
             ("sweep axes", ", ".join(rd.axes) or "none")]
    facts += _pruned_facts(rd)
    if t.empty:
        return facts
    if "seed" in t:
        per = t.groupby("config_id").size() if "config_id" in t else None
        if per is not None and len(per):
            facts.append(("seeds per configuration", str(int(per.min())) if per.min() == per.max()
                          else f"{int(per.min())}–{int(per.max())}"))
    if "status" in t and (t["status"] == "diverged").any():
        facts.append(("diverged trials", str(int((t["status"] == "diverged").sum()))))
    runs = pd.to_numeric(t["epochs_run"], errors="coerce").dropna() if "epochs_run" in t else pd.Series([], dtype=float)
    if len(runs):
        facts.append(("epochs per trial", f"{int(runs.min())}–{int(runs.max())}"
                      if runs.min() != runs.max() else str(int(runs.max()))))
    if sel is not None:
        direction = "lower" if tables.lower_is_better(sel.metric) else "higher"
        text = f"{sel.describe()} ({direction} is better)"
        if sel.report:
            text += f"; the chosen configuration's {tables.label(sel.report)} is reported beside it"
        facts.append(("configurations chosen by", text + (". " + sel.note if sel.note else "")))
    return facts
