"""What the dashboard's JSON endpoints return, computed on the server from the
report's own analyses (:class:`~sweeplab.analysis.rundata.RunData`, its
selection and configuration table, the report's comparison and per-trial
sections), so the browser receives aggregates, never every epoch of a run.

A run's trials are read once per change of its store (see
:func:`sweeplab.dashboard.runs.stamp`); epochs are read per request, only
for the trials shown. Every function here runs on the dashboard's single
reader thread (SQLite connections and matplotlib stay on one thread).
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sweeplab import values as V
from sweeplab.dashboard import runs as R
from sweeplab.errors import SweeplabError, UserError

MAX_PAGE = 200
MAX_PARALLEL = 2000


class NotFound(SweeplabError, LookupError):
    """A run, trial or configuration the request names does not exist (HTTP 404)."""


class BadRequest(UserError):
    """A query parameter outside what is accepted (HTTP 400)."""


def _num(v):
    """A JSON-safe number (NaN and inf become None)."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _open(path: Path):
    from sweeplab.store import load

    return load(path)


class _Snapshot:
    """What :meth:`RunData.from_run` reads, without the epochs (read per request)."""

    def __init__(self, run):
        self.run_dir = run.run_dir
        self.trials = run.trials
        self.epochs = pd.DataFrame(columns=["trial_id", "epoch", "split", "metric", "value"])
        self.study = run.study
        self.axes = run.axes

    def config(self, trial_id):
        with _open(self.run_dir) as run:
            return run.config(trial_id)

    def params(self, trial_id):
        with _open(self.run_dir) as run:
            return run.params(trial_id)

    def predictions(self, trial_id):
        with _open(self.run_dir) as run:
            return run.predictions(trial_id)

    def damaged_trials(self):
        with _open(self.run_dir) as run:
            return run.damaged_trials()


class RunView:
    """One run at one stamp: its trials and the derived tables (computed once)."""

    def __init__(self, entry: R.RunEntry, st: tuple):
        from sweeplab.analysis.rundata import RunData

        self.entry, self.stamp = entry, st
        with _open(entry.path) as run:
            snap = _Snapshot(run)
        status = snap.trials["status"].astype(str).value_counts() if len(snap.trials) else pd.Series(dtype=int)
        self.counts = {"total": int(len(snap.trials)), "finished": int(status.get("finished", 0)),
                       "diverged": int(status.get("diverged", 0)), "pruned": int(status.get("pruned", 0))}
        self.rd = RunData.from_run(snap)
        self._memo: dict = {}

    def memo(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    @property
    def selection(self):
        return self.memo("sel", lambda: self.rd.selection if not self.rd.trials.empty else None)

    def metric(self, name: str | None) -> str | None:
        """The ranking column, or ``name`` when it is a metric column of the run."""
        from sweeplab.analysis.tables import metric_columns

        if name:
            if name not in metric_columns(self.rd.trials):
                raise BadRequest(f"metric: {name!r}: accepted: {', '.join(metric_columns(self.rd.trials))}")
            return name
        sel = self.selection
        return sel.metric if sel else None

    def table(self, metric: str) -> pd.DataFrame:
        return self.memo(("table", metric), lambda: self.rd.config_table(metric))


def view(entry: R.RunEntry) -> RunView:
    """The entry's :class:`RunView` for the store as it is now (re-read after a commit)."""
    st = R.stamp(entry.path)
    cur = entry.cache.get("view")
    if cur is None or cur.stamp != st:
        cur = RunView(entry, st)
        entry.cache["view"] = cur
    return cur


# --------------------------------------------------------------------------- run list


def run_row(entry: R.RunEntry) -> dict:
    """A row of the run list: name, counts, state, last update, progress of the group in flight."""
    st = R.stamp(entry.path)
    row = {"id": entry.id, "dir": entry.path.name, "stamp": "-".join(map(str, st)), "updated": R.last_update(st)}
    try:
        v = view(entry)
        row.update(name=v.rd.name, **v.counts, error=None)
    except Exception as exc:  # a damaged or half-written store: shown, not fatal
        from sweeplab.store import StoreError

        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        if not isinstance(exc, StoreError):  # a bug: name it
            text = f"{type(exc).__name__}: {text}"
        row.update(name=entry.path.name, total=0, finished=0, diverged=0, error=text)
    progress = R.read_progress(entry.path)
    running = R.is_running(entry.path, progress)
    row["state"] = R.state(row, running)
    row["progress"] = _progress(progress) if running else None
    return row


def _progress(p: dict | None) -> dict | None:
    """The numbers of ``progress.json`` the pages show (anything else in the file is dropped)."""
    if not p:
        return None
    keys = ("group", "n_groups", "group_trials", "epoch", "epochs", "saved", "fraction", "eta", "updated")
    return {k: _num(p.get(k)) for k in keys}


# --------------------------------------------------------------------------- study page


def summary(v: RunView, metric: str | None = None) -> dict:
    """The head of the study page: name, counts, the selection and the best configuration."""
    from sweeplab.analysis.tables import metric_columns

    rd = v.rd
    out = {"id": v.entry.id, "name": rd.name, "dir": v.entry.path.name, "counts": v.counts,
           "description": str((rd.study.get("study") or {}).get("description") or ""),
           "axes": list(rd.axes), "stamp": "-".join(map(str, v.stamp))}
    if rd.trials.empty:
        return {**out, "empty": True}
    sel = v.selection
    m = v.metric(metric)
    out.update(empty=False, metric=m, metrics=metric_columns(rd.trials),
               selection={"metric": sel.metric, "report": sel.report, "split": sel.split, "note": sel.note,
                          "describe": sel.describe()},
               best=v.memo(("best", m), lambda: _best_text(v, m)),
               best_config=str(v.table(m)["config_id"].iloc[0]))
    return out


def analyses(v: RunView, metric: str | None = None) -> dict:
    """The study page's slower parts, fetched after the table and curves have been drawn: effects
    per axis, a heat map, parallel coordinates and the comparison with the best."""
    if v.rd.trials.empty:
        return {"empty": True}
    m = v.metric(metric)
    return {"empty": False, "metric": m,
            "effects": v.memo(("effects", m), lambda: effects(v, m)),
            "heatmap": v.memo(("heat", m), lambda: heatmap(v, m)),
            "parallel": v.memo(("par", m), lambda: parallel(v, m)),
            "comparison": v.memo(("cmp", m), lambda: comparison(v, m))}


def warm_up() -> None:
    """Import what the first requests need (pandas, matplotlib, the report) before they come."""
    from sweeplab.analysis import rundata, tables  # noqa: F401
    from sweeplab.report import build, build_study, build_trial  # noqa: F401


def _best_text(v: RunView, metric: str) -> str:
    from sweeplab.analysis.tables import Selection, best_sentence

    sel = v.selection
    if metric != sel.metric:
        sel = Selection(metric, None, metric.split("_", 1)[0])
    return best_sentence(v.rd.trials, v.rd.axes, v.rd.report_spec.get("metrics"), sel=sel)


def effects(v: RunView, metric: str) -> list[dict]:
    """Per axis: each value's mean of ``metric`` and its seed spread (the report's axis tables)."""
    from sweeplab.analysis.tables import axis_table

    out = []
    for a in v.rd.axes:
        t = axis_table(v.rd.trials, a, [metric], sort_by=metric)
        order = V.sort_values(t[a])
        t = t.set_index(t[a].map(V.canonical)).loc[order]
        out.append({"axis": a, "labels": [V.label(x) for x in order], "mean": [_num(x) for x in t[metric]],
                    "std": [_num(x) for x in t[f"{metric}_std"]], "n": [int(x) for x in t[f"{metric}_n"]]})
    return out


def heatmap(v: RunView, metric: str, row: str | None = None, col: str | None = None) -> dict | None:
    """Mean of ``metric`` over two axes (the first two with more than one value, by default)."""
    from sweeplab.analysis.tables import heatmap_grid

    axes = [a for a in v.rd.axes if v.rd.trials[a].map(V.canonical).nunique() > 1]
    if row is None or col is None:
        if len(axes) < 2:
            return None
        row, col = axes[0], axes[1]
    for a in (row, col):
        if a not in v.rd.axes:
            raise BadRequest(f"axis: {a!r}: accepted: {', '.join(v.rd.axes)}")
    g = heatmap_grid(v.rd.trials, row, col, metric)
    return {"row": row, "col": col, "rows": [V.label(x) for x in g.index], "cols": [V.label(x) for x in g.columns],
            "values": [[_num(x) for x in r] for r in g.to_numpy()], "axes": axes}


def parallel(v: RunView, metric: str) -> dict:
    """Swept values of the best configurations (at most :data:`MAX_PARALLEL`) and their ``metric``."""
    t = v.table(metric).head(MAX_PARALLEL)
    dims = []
    for a in v.rd.axes:
        vals = V.sort_values(v.rd.trials[a])
        code = {x: i for i, x in enumerate(vals)}
        dims.append({"name": a, "labels": [V.label(x) for x in vals],
                     "codes": [code.get(V.canonical(x), None) for x in t[a]]})
    return {"dims": dims, "metric": metric, "values": [_num(x) for x in t[metric]],
            "shown": int(len(t)), "total": int(t.attrs.get("total", len(t)))}


def comparison(v: RunView, metric: str, top_n: int = 20) -> dict:
    """The report's comparison with the best (Welch's t-test over seeds, Holm-corrected)."""
    from sweeplab.report import build_study as bs

    sec = bs.comparison(v.rd, metric, top_n)
    return _section(sec)


def _section(sec) -> dict:
    from sweeplab.report.model import FigureItem, TableItem, TextItem

    items = []
    for it in sec.items:
        if isinstance(it, TextItem):
            items.append({"type": "text", "text": str(it.text), "kind": it.kind})
        elif isinstance(it, TableItem):
            d = it.display
            note = "" if "CSV" in it.note else it.note  # the dashboard writes no CSV files
            items.append({"type": "table", "caption": it.caption, "note": note,
                          "columns": [str(c) for c in d.columns],
                          "rows": [[_cell(x) for x in r] for r in d.itertuples(index=False)],
                          "highlight": list(it.highlight)})
        elif isinstance(it, FigureItem):
            items.append({"type": "figure", "caption": it.caption, "png": _png(it.figure)})
    return {"key": sec.key, "title": sec.title, "items": items}


def _cell(x) -> str:
    if isinstance(x, float) and math.isnan(x):
        return ""
    return str(x)


def _png(fig) -> str:
    from sweeplab.report.style import to_png

    try:
        return "data:image/png;base64," + base64.b64encode(to_png(fig)).decode()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def configs(v: RunView, *, metric=None, sort=None, desc=None, q="", offset=0, limit=50) -> dict:
    """A page of the configuration table: rank, swept values, mean ± std of the shown metrics,
    seeds, diverged and degenerate flags; sorted by any shown column, filtered by text."""
    from sweeplab.analysis.stats import lower_is_better
    from sweeplab.analysis.tables import display_columns

    if v.rd.trials.empty:
        return {"columns": [], "rows": [], "total": 0, "matched": 0, "offset": 0}
    m = v.metric(metric)
    t = v.table(m)
    sel = v.selection if m == v.selection.metric else None
    shown = [c for c in display_columns(t, sel) if c != "n_params"]
    if m not in shown:
        shown.insert(0, m)
    axes = list(v.rd.axes)
    labels = v.memo(("labels", m), lambda: pd.DataFrame({a: [V.label(x) for x in t[a]] for a in axes}, index=t.index))
    keep = np.ones(len(t), bool)
    for term in str(q or "").lower().split():
        text = v.memo(("text", m), lambda: labels.apply(lambda r: " ".join(f"{a}={r[a]}" for a in axes).lower(), axis=1)
                      if axes else pd.Series("", index=t.index))
        keep &= text.str.contains(term, regex=False).to_numpy()
    idx = np.flatnonzero(keep)
    sortable = ["rank", *axes, *shown, "n", "diverged"]
    if sort:
        if sort not in sortable:
            raise BadRequest(f"sort: {sort!r}: accepted: {', '.join(sortable)}")
        if sort in axes:
            key = t[sort].iloc[idx].map(V.order_key)
            order = sorted(range(len(idx)), key=lambda i: key.iloc[i], reverse=bool(desc))
        else:
            col = pd.to_numeric(t[sort].iloc[idx], errors="coerce").to_numpy(float)
            down = (not lower_is_better(sort)) if desc is None else bool(desc)
            order = np.argsort(np.where(np.isnan(col), np.inf, -col if down else col), kind="mergesort")
        idx = idx[np.asarray(order, int)]
    offset, limit = max(int(offset), 0), min(max(int(limit), 1), MAX_PAGE)
    page = idx[offset:offset + limit]
    first = v.memo("first", lambda: _first_trials(v.rd.trials))
    rows = []
    for i in page:
        r = t.iloc[i]
        rows.append({"config_id": str(r["config_id"]), "rank": int(r["rank"]), "trial": first.get(str(r["config_id"])),
                     "values": [labels.iat[i, j] for j in range(len(axes))],
                     "metrics": [[_num(r[c]), _num(r.get(f"{c}_std"))] for c in shown],
                     "n": int(r["n"]), "diverged": int(r.get("diverged", 0) or 0),
                     "degenerate": bool(r.get("degenerate", False)), "best": bool(r["best"])})
    return {"axes": axes, "metrics": shown, "rows": rows, "total": int(len(t)), "matched": int(len(idx)),
            "offset": offset, "limit": limit, "metric": m}


def _first_trials(trials: pd.DataFrame) -> dict[str, str]:
    """``config_id -> trial_id`` of its first seed (the order of :meth:`RunData.trials_of`)."""
    order = [c for c in ("repeat", "fold", "seed") if c in trials.columns]
    t = trials.sort_values(order, kind="mergesort") if order else trials
    t = t[~t["config_id"].astype(str).duplicated()]
    return dict(zip(t["config_id"].astype(str), t.index.astype(str)))
