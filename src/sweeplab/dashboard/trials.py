"""The dashboard's per-configuration and per-trial payloads: seed-mean curves of one
configuration and one trial's history and report sections. Epochs are read here, per
request, only for the trials shown (``Run.history``), never for the whole run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from sweeplab import values as V
from sweeplab.dashboard.views import NotFound, RunView, _num, _open, _section

MAX_OVERLAY_SEEDS = 50  # seeds (or folds) averaged per curve at most


def _long(history: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """A trial's wide history (``Run.history``) back to the long epochs frame."""
    if history.empty:
        return pd.DataFrame(columns=["trial_id", "epoch", "split", "metric", "value"])
    long = history.reset_index().melt(id_vars="epoch", var_name="column", value_name="value")
    parts = long["column"].str.split("_", n=1, expand=True)
    return pd.DataFrame({"trial_id": trial_id, "epoch": long["epoch"].astype(int), "split": parts[0],
                         "metric": parts[1], "value": pd.to_numeric(long["value"], errors="coerce")})


def epochs_of(path: Path, trial_ids: list[str]) -> pd.DataFrame:
    with _open(path) as run:
        frames = [_long(run.history(t), t) for t in trial_ids]
    return pd.concat(frames, ignore_index=True) if frames else _long(pd.DataFrame(), "")


def curves(v: RunView, config_id: str, metric: str | None = None) -> dict:
    """Mean ± std over the seeds of one configuration, per epoch, for the metric's train/val/test splits
    and the loss."""
    from sweeplab.analysis.curves import mean_curves

    try:
        ids = v.rd.trials_of(str(config_id))
    except LookupError:
        raise NotFound(f"no configuration {config_id!r} in this run") from None
    m = v.metric(metric)
    base = m.split("_", 1)[1] if "_" in m else m
    ids = ids[:MAX_OVERLAY_SEEDS]
    ep = epochs_of(v.entry.path, ids)
    trials = v.rd.trials.loc[ids]
    series = []
    for b in dict.fromkeys([base, "loss"]):
        for split in ("train", "val", "test"):
            mc = mean_curves(ep, trials, None, split, b)
            if mc.empty:
                continue
            series.append({"split": split, "metric": b, "epoch": [int(x) for x in mc["epoch"]],
                           "mean": [_num(x) for x in mc["mean"]], "std": [_num(x) for x in mc["std"]],
                           "n": [int(x) for x in mc["n"]]})
    row = v.rd.trials.loc[ids[0]]
    label = ", ".join(f"{a} = {V.label(row[a])}" for a in v.rd.axes) or "all trials"
    return {"config_id": str(config_id), "label": label, "trials": ids, "series": series}


def trial(v: RunView, trial_id: str) -> dict:
    """One trial: its swept values, results, history and the report's per-trial sections."""
    from sweeplab.report import build as rb
    from sweeplab.report import build_trial as bt
    from sweeplab.vocab.analyses import ANALYSES

    rd = v.rd
    if trial_id not in rd.trials.index:
        raise NotFound(f"no finished trial {trial_id!r} in this run")
    ep = epochs_of(v.entry.path, [trial_id])
    rd1 = dataclasses.replace(rd, epochs=ep, damaged={})
    row = rd.trials.loc[trial_id]
    facts = [[a, V.label(row[a])] for a in rd.axes]
    facts += [[c, "—" if pd.isna(row[c]) else str(row[c])]
              for c in ("config_id", "seed", "repeat", "fold", "status", "epochs_run") if c in row]
    results = [[c, _num(row[c])] for c in rd.trials.columns if c.split("_", 1)[0] in ("test", "train", "val")
               and pd.api.types.is_number(row[c])]
    history = [{"split": s, "metric": m, "epoch": [int(x) for x in g["epoch"]], "value": [_num(x) for x in g["value"]]}
               for (s, m), g in ep[ep["split"] != "grad"].sort_values("epoch").groupby(["split", "metric"], sort=True)]
    ctx = bt.TrialContext(rd1, trial_id)
    keys = [k for k in rb.default_analyses(rd1, ctx) if k in rb.TRIAL_ANALYSES and k != "history"]
    sections = []
    for k in keys:
        try:
            job = rb.Job(rd1, ctx, rd.report_spec.get("metrics"), rd.selection.metric, 0)
            sections.append(_section(rb.build_section(job, k)))
        except Exception as exc:  # one analysis failing must not hide the others
            sections.append({"key": k, "title": ANALYSES.get(k).title, "items": [
                {"type": "text", "kind": "note", "text": f"{type(exc).__name__}: {str(exc)[:200]}"}]})
    for tid, why in rd1.damaged.items():
        sections.append({"key": "damaged", "title": "Damaged files", "items": [
            {"type": "text", "kind": "note", "text": f"{tid}: {why}"}]})
    return {"id": v.entry.id, "run": rd.name, "trial_id": trial_id, "config_id": str(row["config_id"]),
            "facts": facts, "results": results, "history": history, "sections": sections}
