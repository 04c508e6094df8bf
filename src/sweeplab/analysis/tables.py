"""Per-study tables: one row per sweep value (seed reports' tables), one row
per configuration, a two-axis grid for heat maps, and the best configuration
in one sentence.

Configurations are **ranked on validation data** whenever the study has it
(a validation split, ``validation_data``, or the cross-validation folds'
held-out parts); the test metric of the chosen configuration is reported
beside it. Only a study without validation data ranks on test, and
:func:`selection` says so in one sentence. ``[report] select_by`` overrides.

All functions take the trials frame of :class:`~sweeplab.analysis.rundata.RunData`
(one row per trial; sweep axes as columns named by their dotted path, holding
:func:`sweeplab.values.canonical` values; ``test_<metric>``, final
``train_<metric>``/``val_<metric>``, ``time_per_epoch``, ``n_params``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sweeplab import values as V
from sweeplab.errors import UserError
from sweeplab.analysis.stats import aggregate, format_mean_std, format_seconds
from sweeplab.vocab.metrics import lower_is_better

EXTRA_COLUMNS = ("time_per_epoch", "n_params")
_DEFAULT_BASES = ("accuracy", "f1", "loss", "mae", "mse")
_SPLITS = ("test", "train", "val")


def value_key(v):
    """Sort key for sweep values (see :func:`sweeplab.values.order_key`)."""
    return V.order_key(v)


def metric_columns(trials: pd.DataFrame, metrics=None) -> list[str]:
    """The metric columns to tabulate: test metrics first, then final train/val.

    Args:
        metrics: base names (``accuracy``) or full names (``test_accuracy``);
            by default every test/train/val column present.
    """
    present = [c for c in trials.columns if c.split("_", 1)[0] in _SPLITS and "_" in c]
    if metrics:
        wanted = []
        for m in metrics:
            full = [m] if m in present else [f"{s}_{m}" for s in _SPLITS]
            wanted += [c for c in full if c in present]
        present = list(dict.fromkeys(wanted))
    order = {"test": 0, "train": 1, "val": 2}
    return sorted(present, key=lambda c: order[c.split("_", 1)[0]])


def default_metrics(trials: pd.DataFrame, axes=()) -> list[str]:
    """What a summary shows when no metric is asked for: every recorded one (:func:`metric_columns`)."""
    return metric_columns(trials)


def _has(trials: pd.DataFrame, col: str) -> bool:
    return col in trials.columns and pd.to_numeric(trials[col], errors="coerce").notna().any()


def _base(name: str) -> str:
    split, _, rest = name.partition("_")
    return rest if split in _SPLITS and rest else name


@dataclass(frozen=True)
class Selection:
    """How configurations are ranked and which number is reported for the chosen one.

    Attributes:
        metric: the column that ranks configurations (``val_accuracy``).
        report: the test column reported beside it (``test_accuracy``), or None.
        split: ``validation``, ``cross-validation``, ``test`` or ``train``.
        note: one sentence for reports when the ranking is not on validation
            data (empty otherwise).
    """

    metric: str
    report: str | None
    split: str
    note: str = ""

    @property
    def columns(self) -> list[str]:
        """The ranking column, then the reported test column."""
        return [self.metric] + ([self.report] if self.report and self.report != self.metric else [])

    @property
    def loss(self) -> str:
        """The loss on the ranking split (``val_loss``)."""
        return self.metric.split("_", 1)[0] + "_loss"

    def describe(self) -> str:
        """``validation accuracy`` / ``test accuracy`` for captions."""
        split = self.metric.split("_", 1)[0]
        words = {"val": "validation", "cv": "cross-validation"}.get(split, split)
        if self.split == "cross-validation":
            words = "cross-validation"
        return f"{words} {_base(self.metric)}"


def selection(trials: pd.DataFrame, metrics=None, select_by: str | None = None,
              study: dict | None = None) -> Selection:
    """Choose the ranking metric: validation when the study has it, else test.

    Args:
        metrics: the study's ``[report] metrics`` (base or full names); the
            first one names the quantity (accuracy, f1, loss...).
        select_by: ``[report] select_by``: a base name (``f1``: ranked on its
            validation value) or a full column (``test_accuracy``: exactly that).
        study: the study as a dict (for ``data.validation_data``).

    Raises:
        UserError: when nothing can rank the configurations, or ``select_by``
            names a metric the run did not record.
    """
    data = (study or {}).get("data") or {}
    cv = bool(((study or {}).get("train") or {}).get("cross_validation")) or (
        "fold" in trials.columns and pd.to_numeric(trials["fold"], errors="coerce").notna().any())
    val_is_test = str(data.get("validation_data", "")) == "test"

    def from_base(base: str, explicit: bool) -> Selection | None:
        for split in ("val", "test", "train"):
            col = f"{split}_{base}"
            if _has(trials, col):
                return _make(col, base, explicit)
        return None

    def _make(col: str, base: str, explicit: bool) -> Selection:
        split = col.split("_", 1)[0]
        report = f"test_{base}" if _has(trials, f"test_{base}") else None
        if split == "val":
            kind = "cross-validation" if cv else "validation"
            note = ""
            if val_is_test:
                note = ("This study's validation data is its test set (data.validation_data = \"test\", as the "
                        "Keras notebook it reproduces did), so the ranking is on test data: the chosen "
                        "configuration's test score is optimistic.")
            return Selection(col, report, kind, note)
        if split == "test":
            note = ("Ranked on test data because the study has no validation data "
                    "(set data.validation_split to choose on validation data instead)."
                    if not explicit else "Ranked on test data as [report] select_by asks.")
            return Selection(col, None, "test", note)
        return Selection(col, report, "train", "Ranked on the final training value: the run recorded no "
                                                "validation or test metric of this kind.")

    if select_by:
        if select_by in trials.columns and select_by.split("_", 1)[0] in _SPLITS:
            if not _has(trials, select_by):
                raise UserError(f"[report] select_by: {select_by!r} was not recorded; recorded: "
                                 + ", ".join(metric_columns(trials)))
            return _make(select_by, _base(select_by), True)
        sel = from_base(_base(select_by), True)
        if sel is None:
            raise UserError(f"[report] select_by: {select_by!r} was not recorded; recorded: "
                             + ", ".join(metric_columns(trials)))
        return sel
    bases = [_base(m) for m in (metrics or [])] + list(_DEFAULT_BASES)
    for m in metrics or []:  # a full name in [report] metrics keeps its split when it is not test
        if m in trials.columns and m.startswith(("val_", "train_")) and _has(trials, m):
            return _make(m, _base(m), False)
    for base in dict.fromkeys(bases):
        sel = from_base(base, False)
        if sel is not None:
            return sel
    for c in metric_columns(trials):
        if _has(trials, c):
            return from_base(_base(c), False) or _make(c, _base(c), False)
    raise UserError("no metric to rank configurations by: the run has no test/val/train metrics")


def primary_metric(trials: pd.DataFrame, metrics=None, select_by: str | None = None,
                   study: dict | None = None) -> str:
    """The column that ranks configurations (see :func:`selection`)."""
    return selection(trials, metrics, select_by, study).metric


def _table_columns(trials: pd.DataFrame, metrics, sort_by: str) -> list[str]:
    cols = metric_columns(trials, metrics) + [c for c in EXTRA_COLUMNS if c in trials.columns]
    if sort_by not in cols:
        cols.insert(0, sort_by)
    return cols


def _sort(table: pd.DataFrame, sort_by: str, ascending: bool | None = None) -> pd.DataFrame:
    """Best first by the direction declared on the metric's registry entry (NaN last)."""
    ascending = lower_is_better(sort_by) if ascending is None else ascending
    return table.sort_values(sort_by, ascending=ascending, na_position="last", kind="mergesort").reset_index(drop=True)


def config_table(trials: pd.DataFrame, axes: list[str], metrics=None, *, sort_by=None, top_n=None,
                 majority: float | None = None, ascending: bool | None = None) -> pd.DataFrame:
    """The summary over seeds: one row per configuration (all sweep values), best first, at most ``top_n`` rows.

    The one table of mean ± std over seeds: ``sweeplab show`` (through
    :func:`summarize`), the report and the notebook all print it. Rows are
    grouped by ``config_id`` (the hash of the resolved configuration) when the
    frame has it, so a lookup never depends on how a value prints.

    Args:
        sort_by: ranking column (default: :func:`primary_metric`).
        ascending: the sort order; by default the metric's declared direction
            (:func:`sweeplab.vocab.metrics.direction`), best first.
        majority: the share of the most frequent test class, to flag
            classifiers that predict one class (``degenerate``).

    Returns:
        ``rank``, the axes (canonical values), ``config_id``, for each metric
        ``m``, ``m_std``, ``m_n``; ``n_params`` (an integer), ``time_per_epoch``;
        ``n`` (trials), ``diverged``, ``degenerate``, ``best``.
    """
    sort_by = sort_by or primary_metric(trials, metrics)
    cols = _table_columns(trials, metrics, sort_by)
    by = ["config_id"] if "config_id" in trials.columns else list(axes)
    table = aggregate(trials, by, [c for c in cols if c != "n_params"])
    if by == ["config_id"]:
        first = trials.drop_duplicates("config_id").set_index("config_id")
        for a in axes:
            table[a] = table["config_id"].map(first[a])
        table = table[[*axes, *[c for c in table.columns if c not in axes]]]
    keys = _group_keys(trials, by)
    if "n_params" in trials.columns:
        table["n_params"] = _params_per_group(trials, keys, table, by)
    table["n"] = table[by[0]].map(keys.value_counts()).fillna(0).astype(int) if by else len(trials)
    if "status" in trials.columns:
        div = keys[trials["status"].eq("diverged").to_numpy()].value_counts()
        table["diverged"] = table[by[0]].map(div).fillna(0).astype(int)
    table = _sort(table, sort_by, ascending)
    table["degenerate"] = degenerate(table, majority)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["best"] = table["rank"] == 1
    if len(table) and pd.isna(table[sort_by].iloc[0]):
        table["best"] = False
    table.attrs.update(axes=list(axes) or by, sort_by=sort_by, metrics=cols, total=len(table))
    return table.head(top_n) if top_n else table


def summarize(trials: pd.DataFrame, axes: list[str], metrics=None, sort_by: str | None = None,
              ascending: bool | None = None, *, top_n: int | None = None,
              majority: float | None = None) -> pd.DataFrame:
    """The summary over seeds of a run's trials (any status): :func:`config_table`'s rows, then pending ones.

    Args:
        trials: :attr:`sweeplab.store.Run.trials` (or :class:`~sweeplab.analysis.rundata.RunData`'s).
        metrics: base names (``accuracy``: every split recorded) or columns
            (``val_loss``); default :func:`metric_columns`.
        sort_by: a column, or a base name ranked as ``sweeplab show --sort``
            ranks it (on validation data when there is some); default the
            first metric.

    Returns:
        :func:`config_table`'s columns (``<metric>``, ``<metric>_std``,
        ``<metric>_n``, ``time_per_epoch``, ``n``, ``diverged``...); a
        configuration without finished or diverged trials comes last with ``n = 0``.

    Raises:
        UserError: a metric (or ``sort_by``) the run did not record, naming those it did.
    """
    from sweeplab.analysis.rundata import normalise_trials

    axes = list(axes)
    t = normalise_trials(trials, axes) if "trial_id" in trials.columns else trials
    done = t[t["status"].isin(["finished", "diverged"])] if "status" in t.columns else t
    recorded = metric_columns(done)
    names = [metrics] if isinstance(metrics, str) else list(metrics or [])
    for m in names:
        if not metric_columns(done, [m]):
            raise UserError(f"unknown metric {m!r}; recorded: {', '.join(recorded) or '(none)'}")
    cols = metric_columns(done, names or None)
    if sort_by is not None and sort_by not in done.columns:
        try:
            sort_by = selection(done, None, sort_by).metric
        except UserError:
            raise UserError(f"cannot sort by {sort_by!r}: not recorded; recorded: {', '.join(recorded)}") from None
    if done.empty:
        table = pd.DataFrame(columns=["rank", *axes, "config_id", "n", "diverged"])
    else:
        table = config_table(done, axes, cols, sort_by=sort_by or (cols[0] if names else None),
                             ascending=ascending, top_n=top_n, majority=majority)
    if top_n is None and "config_id" in t.columns:
        pending = t[~t["config_id"].isin(set(done["config_id"]))].drop_duplicates("config_id")
        rows = pd.DataFrame({"config_id": pending["config_id"].to_numpy(), "n": 0, "diverged": 0,
                             "degenerate": False, "best": False,
                             **{a: pending[a].to_numpy() for a in axes}})
        if len(rows):
            attrs = dict(table.attrs)
            table = pd.concat([table, rows], ignore_index=True) if len(table) else rows
            for c in [f"{m}_n" for m in attrs.get("metrics", ())]:  # counts stay integers: 0 for pending
                if c in table.columns:
                    table[c] = table[c].fillna(0).astype(int)
            table.attrs.update(attrs)
    return table


def _group_keys(trials: pd.DataFrame, by: list[str]) -> pd.Series:
    if len(by) == 1:
        return trials[by[0]].map(V.canonical)
    return pd.Series([tuple(V.canonical(v) for v in row) for row in trials[by].itertuples(index=False)],
                     index=trials.index)


def _params_per_group(trials, keys, table, by) -> list:
    """The parameter count of each row: one integer, or ``(min, max)`` when it varies."""
    n = pd.to_numeric(trials["n_params"], errors="coerce")
    lo, hi = n.groupby(keys.to_numpy()).min(), n.groupby(keys.to_numpy()).max()
    out = []
    for k in (table[by[0]] if len(by) == 1 else table[by].itertuples(index=False)):
        k = V.canonical(k) if len(by) == 1 else tuple(V.canonical(v) for v in k)
        a, b = lo.get(k, np.nan), hi.get(k, np.nan)
        out.append(np.nan if pd.isna(a) else (int(a) if a == b else (int(a), int(b))))
    return out


def degenerate(table: pd.DataFrame, majority: float | None = None) -> pd.Series:
    """Rows whose classifier predicts (almost surely) one class: an F1 of 0, or
    an accuracy equal to the majority class's share of the test set."""
    flag = pd.Series(False, index=table.index)
    for col in ("test_f1", "val_f1"):
        if col in table.columns:
            flag |= pd.to_numeric(table[col], errors="coerce").fillna(1.0).abs().lt(1e-12)
    if majority is not None and "test_accuracy" in table.columns:
        acc = pd.to_numeric(table["test_accuracy"], errors="coerce")
        std = pd.to_numeric(table.get("test_accuracy_std", pd.Series(0.0, index=table.index)), errors="coerce")
        flag |= (acc - majority).abs().lt(5e-4) & std.fillna(0).lt(1e-3)
    return flag


def axis_table(trials: pd.DataFrame, axis: str, metrics=None, *, sort_by: str | None = None) -> pd.DataFrame:
    """One row per value of a sweep axis: mean, seed spread and n of each metric.

    The mean is over every trial with that value (seeds and the other axes'
    values). The ``_std`` columns are the **seed spread**: the mean, over the
    configurations with that value, of the standard deviation over seeds; so
    ± never mixes seed noise with the effect of the other axes. ``_sd_all``
    holds the plain standard deviation over all those trials.

    Returns:
        Columns ``axis``, then for each metric ``m``, ``m_std``, ``m_n``,
        ``m_sd_all``; ``time_per_epoch``/``n_params`` the same way; ``best``.
    """
    sort_by = sort_by or primary_metric(trials, metrics)
    cols = _table_columns(trials, metrics, sort_by)
    numeric = [c for c in cols if c != "n_params"]
    table = aggregate(trials, [axis], numeric)
    cfg = "config_id" if "config_id" in trials.columns else None
    if cfg:
        per_cfg = aggregate(trials, [cfg], numeric)
        first = trials.drop_duplicates(cfg).set_index(cfg)[axis].map(V.canonical)
        per_cfg["__v"] = per_cfg[cfg].map(first)
        for m in numeric:
            table[f"{m}_sd_all"] = table[f"{m}_std"]
            spread = per_cfg.groupby("__v", sort=False)[f"{m}_std"].mean()
            table[f"{m}_std"] = table[axis].map(spread)
    if "n_params" in trials.columns:
        table["n_params"] = _params_per_group(trials, trials[axis].map(V.canonical), table, [axis])
    table = _sort(table, sort_by)
    table["best"] = False
    if len(table) and not pd.isna(table[sort_by].iloc[0]):
        table.loc[0, "best"] = True
    table.attrs.update(axis=axis, sort_by=sort_by, metrics=cols, spread="seed" if cfg else "all")
    return table


def heatmap_grid(trials: pd.DataFrame, row_axis: str, col_axis: str, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` for each pair of values of two axes (averaged over
    seeds and the remaining axes): rows ``row_axis``, columns ``col_axis``,
    both in :func:`sweeplab.values.order_key` order."""
    agg = aggregate(trials, [row_axis, col_axis], [metric])
    rows, cols = V.sort_values(agg[row_axis]), V.sort_values(agg[col_axis])
    grid = pd.DataFrame(np.nan, index=pd.Index(rows, dtype=object, name=row_axis),
                        columns=pd.Index(cols, dtype=object, name=col_axis))
    for r, c, v in zip(agg[row_axis], agg[col_axis], agg[metric]):
        grid.iat[rows.index(V.canonical(r)), cols.index(V.canonical(c))] = v
    return grid


def display_columns(table: pd.DataFrame, sel: Selection | None = None) -> list[str]:
    """The metric columns a default table shows (about 7 columns in all): the
    ranking metric, its test counterpart, the loss on the ranking split, the
    time share per epoch and the parameter count. Everything else is in the CSV."""
    metrics = table.attrs.get("metrics", [])
    sort_by = table.attrs.get("sort_by")
    chosen = sel.columns + [sel.loss] if sel else ([sort_by] if sort_by else [])
    if not sel and sort_by:
        base, split = _base(sort_by), sort_by.split("_", 1)[0]
        chosen += [c for c in (f"test_{base}", f"{split}_loss") if c != sort_by]
    chosen = [c for c in dict.fromkeys(chosen) if c in metrics and c in table.columns]
    return chosen + [c for c in EXTRA_COLUMNS if c in table.columns]


def format_table(table: pd.DataFrame, *, digits: int = 4, columns: list[str] | None = None) -> pd.DataFrame:
    """A table for display: ``mean ± std`` strings, parameters as integers, an
    ``n`` column only when the count varies, ``★`` on the best row and ``⚠``
    on degenerate or diverged rows.

    Args:
        columns: the metric columns to show (default: :func:`display_columns`).
    """
    metrics = table.attrs.get("metrics", [])
    shown = columns if columns is not None else display_columns(table)
    hidden = set(metrics) | {"rank", "config_id", "best", "n", "diverged", "degenerate"}
    keys = [c for c in table.columns if c not in hidden and not c.endswith(("_std", "_n", "_sd_all"))]
    out = table[keys].copy()
    for a in keys:
        out[a] = [V.label(v) for v in table[a]]
    n_col = None
    for m in shown:
        if m not in table.columns:
            continue
        if m == "n_params":
            out[label(m)] = [_params(v) for v in table[m]]
            continue
        if m == "time_per_epoch":
            out[label(m)] = [format_seconds(v) for v in table[m]]
            continue
        out[label(m)] = [format_mean_std(a, s, None, digits) for a, s in zip(table[m], table[f"{m}_std"])]
        n_col = n_col if n_col is not None else table.get(f"{m}_n")
    counts = table["n"] if "n" in table.columns else n_col
    if counts is not None and pd.Series(counts).nunique() > 1:
        out["n"] = pd.Series(counts).to_numpy()
    marks = np.where(table["best"], "★", "") if "best" in table.columns else np.full(len(table), "")
    flags = np.zeros(len(table), bool)
    for c in ("degenerate", "diverged"):
        if c in table.columns:
            flags |= table[c].fillna(0).astype(bool).to_numpy()
    out.insert(0, "", [m + ("⚠" if f else "") for m, f in zip(marks, flags)])
    out.attrs.update(table.attrs)
    return out


def seeds_note(table: pd.DataFrame) -> str:
    """``3 seeds per configuration`` when the count is constant, else ''."""
    counts = table["n"] if "n" in table.columns else None
    if counts is None or not len(counts) or pd.Series(counts).nunique() != 1:
        return ""
    n = int(pd.Series(counts).iloc[0])
    return f"{n} seed{'s' if n != 1 else ''} per configuration"


def _params(v) -> str:
    if isinstance(v, tuple):
        return f"{v[0]:,}–{v[1]:,}"
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{int(v):,}"


def label(col: str) -> str:
    """A column name as a reader says it: ``val_accuracy`` -> ``val accuracy``."""
    if col == "time_per_epoch":
        return "time/epoch"
    if col == "n_params":
        return "parameters"
    split, _, metric = col.partition("_")
    return f"{split} {metric}" if metric else col


_label = label  # old private name, still used by cli.py


def base_metric(column: str) -> str:
    """The metric of a column without its split prefix: ``val_accuracy`` -> ``accuracy``."""
    return _base(column)


def best_sentence(trials: pd.DataFrame, axes: list[str], metrics=None, *, metric: str | None = None,
                  sel: Selection | None = None) -> str:
    """The best configuration in one sentence, with its numbers: the ranking
    metric and, beside it, the chosen configuration's test metric."""
    if trials.empty:
        return "The run has no finished trials."
    sel = sel or (Selection(metric, None, metric.split("_", 1)[0]) if metric else selection(trials, metrics))
    table = config_table(trials, axes, metrics, sort_by=sel.metric)
    best = table.iloc[0]
    where = ", ".join(f"{a} = {V.label(best[a])}" for a in axes) if axes else "the single configuration"
    text = (f"The best configuration by {sel.describe()} is {where}: "
            f"{label(sel.metric)} {format_mean_std(best[sel.metric], best[f'{sel.metric}_std'])}")
    if sel.report and sel.report in table.columns and not pd.isna(best[sel.report]):
        text += f", {label(sel.report)} {format_mean_std(best[sel.report], best[sel.report + '_std'])}"
    n = int(best[f"{sel.metric}_n"])
    text += f" (mean ± std over {n} seed{'s' if n != 1 else ''}), out of {len(table)} configuration"
    text += "s." if len(table) != 1 else "."
    if sel.note:
        text += " " + sel.note
    return text
