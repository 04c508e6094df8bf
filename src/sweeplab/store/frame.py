"""The pandas side of the results store: DataFrames, :class:`Run` and summaries."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .records import DIVERGED, FINISHED
from .sqlite import (
    DB_NAME,
    StoreError,
    current_filter,
    from_json,
    open_readonly,
    read_config,
    read_npz,
    read_study,
    sqlite_error,
    verify_artifacts,
)

#: Columns of :func:`trials_frame` that are always present, in this order.
TRIAL_COLUMNS = (
    "trial_id",
    "config_id",
    "group",
    "seed",
    "repeat",
    "fold",
    "status",
    "epochs_run",
    "diverged_epoch",
    "stopped_epoch",
    "best_epoch",
    "n_params",
    "seconds_per_epoch",
    "compile_seconds",
)

_LOSS_LIKE = ("loss", "mae", "mse")
_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, "grad": 3}


def is_loss_like(name: str) -> bool:
    """True for metrics where lower is better (names containing loss, mae or mse)."""
    lowered = name.lower()
    return any(word in lowered for word in _LOSS_LIKE)


def _groupable(value: Any) -> Any:
    """JSON value -> its canonical sweep value (hashable; a list prints as ``[64]``)."""
    from sweeplab.values import canonical

    return canonical(value)


def trials_frame(conn: sqlite3.Connection, current: bool = False) -> pd.DataFrame:
    """One row per trial (``current``: only the trials of the study run last, see :func:`current_filter`).

    Columns: :data:`TRIAL_COLUMNS`, then one per swept path (the keys of
    ``overrides``, lists as tuples, dicts as JSON text), then
    ``test_<metric>`` per test metric, then each key of ``final`` (a final
    key that collides with an earlier column is named ``final_<key>``).
    """
    where, args = current_filter(conn) if current else ("1", ())
    cur = conn.execute(
        'SELECT trial_id, config_id, "group", seed, repeat, fold, status, epochs_run, diverged_epoch, '
        "stopped_epoch, best_epoch, n_params, seconds_per_epoch, compile_seconds, overrides, test, final "
        f"FROM trials WHERE {where} ORDER BY rowid",
        args,
    )
    rows = cur.fetchall()
    axes: dict[str, None] = {}
    test_keys: dict[str, None] = {}
    final_keys: dict[str, None] = {}
    decoded = []
    for row in rows:
        overrides, test, final = (_json_dict(row[0], name, row[i]) for i, name in
                                  ((14, "overrides"), (15, "test"), (16, "final")))
        axes.update(dict.fromkeys(overrides))
        test_keys.update(dict.fromkeys(test))
        final_keys.update(dict.fromkeys(final))
        decoded.append((overrides, test, final))
    columns: dict[str, list] = {name: [row[i] for row in rows] for i, name in enumerate(TRIAL_COLUMNS)}
    for axis in axes:
        columns[axis] = [_groupable(o.get(axis)) for o, _, _ in decoded]
    for key in test_keys:
        columns[f"test_{key}"] = [_float_or_nan(t.get(key)) for _, t, _ in decoded]
    for key in final_keys:
        name = key if key not in columns else f"final_{key}"
        columns[name] = [_float_or_nan(f.get(key)) for _, _, f in decoded]
    frame = pd.DataFrame(columns)
    for name in ("seed", "repeat"):
        frame[name] = frame[name].astype("int64")
    for name in ("fold", "epochs_run", "diverged_epoch", "stopped_epoch", "best_epoch", "n_params"):
        frame[name] = frame[name].astype("Int64")
    for name in ("seconds_per_epoch", "compile_seconds"):
        frame[name] = frame[name].astype("float64")
    frame.attrs["axes"] = list(axes)
    return frame


def _json_dict(trial_id: str, column: str, text: str | None) -> dict:
    value = from_json(text, f"trial {trial_id!r}, column {column!r}")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StoreError(f"trial {trial_id!r}, column {column!r}: expected a JSON object; the store is damaged")
    return value


def _float_or_nan(value: Any) -> Any:
    if value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def epochs_frame(conn: sqlite3.Connection, trial_id: str | None = None, current: bool = False) -> pd.DataFrame:
    """Long form: trial_id, epoch, split, metric, value (NaN where non-finite was stored as NULL).

    ``current``: only epochs of the trials of the study run last.
    """
    sql = "SELECT trial_id, epoch, split, metric, value FROM epochs"
    args: tuple = ()
    if trial_id is not None:
        sql += " WHERE trial_id=?"
        args = (trial_id,)
    elif current:
        where, args = current_filter(conn)
        sql += f" WHERE {where}"
    rows = conn.execute(sql + " ORDER BY trial_id, split, metric, epoch", args).fetchall()
    frame = pd.DataFrame(rows, columns=["trial_id", "epoch", "split", "metric", "value"])
    frame["epoch"] = frame["epoch"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    return frame


def history_frame(epochs: pd.DataFrame) -> pd.DataFrame:
    """Wide per-epoch table of one trial: index ``epoch``, columns ``<split>_<metric>``."""
    if epochs.empty:
        return pd.DataFrame(index=pd.Index([], name="epoch", dtype="int64"))
    wide = epochs.assign(column=epochs["split"] + "_" + epochs["metric"]).pivot(
        index="epoch", columns="column", values="value"
    )
    keys = epochs.drop_duplicates(["split", "metric"])[["split", "metric"]].itertuples(index=False)
    order = sorted(keys, key=lambda k: (_SPLIT_ORDER.get(k[0], 9), k[0], k[1] != "loss", k[1]))
    wide = wide[[f"{s}_{m}" for s, m in order]]
    wide.columns.name = None
    return wide


def _axes_of(trials: pd.DataFrame) -> list[str]:
    if "axes" in trials.attrs:
        return [a for a in trials.attrs["axes"] if a in trials.columns]
    extra = [c for c in trials.columns if c not in TRIAL_COLUMNS]
    return [c for c in extra if "." in c]


def _metric_columns(trials: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    return [
        c
        for c in trials.columns
        if c not in TRIAL_COLUMNS and c not in axes and pd.api.types.is_numeric_dtype(trials[c])
    ]


def default_metrics(trials: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """Test metrics if any, else final val, else final train."""
    candidates = _metric_columns(trials, axes)
    for prefix in ("test_", "val_", "train_"):
        chosen = [c for c in candidates if c.startswith(prefix) and trials[c].notna().any()]
        if chosen:
            return chosen
    return []


def _resolve_metric(name: str, trials: pd.DataFrame, axes: Sequence[str]) -> str:
    available = _metric_columns(trials, axes)
    for candidate in (name, f"test_{name}", f"val_{name}", f"train_{name}"):
        if candidate in available:
            return candidate
    raise StoreError(
        f"unknown metric {name!r}; available: {', '.join(available) if available else '(none)'}"
    )


def summarize(
    trials: pd.DataFrame,
    axes: Sequence[str],
    metrics: Sequence[str] | str | None = None,
    sort_by: str | None = None,
    ascending: bool | None = None,
) -> pd.DataFrame:
    """One row per configuration: swept values, n, diverged, metric mean/std, seconds_per_epoch.

    ``n`` counts FINISHED trials; mean and std (sample std, ``ddof=1``; NaN
    for a single trial) are taken over FINISHED trials only, so a diverged
    seed does not turn a mean into NaN: it is counted in ``diverged``.
    ``metrics`` are column names of the trials frame (``test_accuracy``) or
    bare names (``accuracy`` -> ``test_accuracy``, else ``val_``, else
    ``train_``). Sorted by ``sort_by`` (default the first metric's mean),
    ascending for loss-like names (loss, mae, mse), descending otherwise,
    unless ``ascending`` is given; NaN last.
    """
    axes = list(axes)
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = (
        default_metrics(trials, axes)
        if metrics is None
        else [_resolve_metric(m, trials, axes) for m in metrics]
    )
    columns = ["config_id", *axes, "n", "diverged"]
    for m in chosen:
        columns += [f"{m}_mean", f"{m}_std"]
    columns.append("seconds_per_epoch")
    if trials.empty:
        return pd.DataFrame(columns=columns)

    finished = trials["status"] == FINISHED
    grouped = trials.groupby("config_id", sort=False)
    out = grouped[axes].first() if axes else pd.DataFrame(index=grouped.size().index)
    out["n"] = finished.groupby(trials["config_id"], sort=False).sum().astype("int64")
    out["diverged"] = (trials["status"] == DIVERGED).groupby(trials["config_id"], sort=False).sum().astype("int64")
    for m in chosen:
        values = trials[m].astype("float64")
        out[f"{m}_mean"] = values[finished].groupby(trials.loc[finished, "config_id"], sort=False).mean()
        out[f"{m}_std"] = values[finished].groupby(trials.loc[finished, "config_id"], sort=False).std(ddof=1)
    out["seconds_per_epoch"] = grouped["seconds_per_epoch"].mean()
    out = out.reset_index()[columns]

    if sort_by is None and chosen:
        sort_by = f"{chosen[0]}_mean"
    if sort_by is not None:
        if sort_by not in out.columns:
            if f"{sort_by}_mean" in out.columns:
                sort_by = f"{sort_by}_mean"
            else:
                sort_by = f"{_resolve_metric(sort_by, trials, axes)}_mean"
                if sort_by not in out.columns:
                    raise StoreError(
                        f"cannot sort by {sort_by!r}: not among the summary's metrics ({', '.join(chosen)})"
                    )
        if ascending is None:
            ascending = is_loss_like(sort_by)
        out = out.sort_values(sort_by, ascending=ascending, na_position="last", kind="stable")
    return out.reset_index(drop=True)


class Run:
    """A run directory opened read-only (what :func:`load` returns).

    ``trials`` and ``epochs`` hold the trials of the study run last in this
    directory (its fingerprint, see :func:`sweeplab.store.sqlite.study_fingerprint`);
    with ``all=True`` every trial ever stored there, earlier versions of an
    edited study included. A store written before fingerprints existed:
    every trial is current.
    """

    def __init__(self, run_dir: str | os.PathLike, *, all: bool = False):  # noqa: A002 - mirrors --all
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self.all = bool(all)
        self._conn: sqlite3.Connection | None = open_readonly(self.run_dir)

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: run is closed")
        return self._conn

    def _query(self, fn, *args):
        try:
            return fn(self._c(), *args)
        except sqlite3.DatabaseError as exc:
            raise sqlite_error(self.path, exc, "cannot read") from None

    def close(self) -> None:
        conn, self._conn = getattr(self, "_conn", None), None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r})"

    @functools.cached_property
    def trials(self) -> pd.DataFrame:
        """One row per trial of the current study, or of every study with ``all=True`` (loaded once)."""
        return self._query(trials_frame, not self.all)

    @functools.cached_property
    def epochs(self) -> pd.DataFrame:
        """Every recorded epoch of those trials, long form (loaded once)."""
        return self._query(epochs_frame, None, not self.all)

    def damaged_trials(self) -> dict[str, str]:
        """``{trial_id: reason}``: finished or diverged trials (of :attr:`trials`) whose saved files are damaged.

        A reason names the artifact and what is wrong: a missing file, a size
        or checksum that differs from the store, an unreadable file, a path
        that leads outside the run directory. Nothing outside the run
        directory is opened. A resume (``sweeplab run``) trains these again.
        """
        ids = list(self.trials["trial_id"])
        return self._query(verify_artifacts, self.run_dir, ids)

    @functools.cached_property
    def study(self) -> dict | None:
        return self._query(read_study)

    @property
    def axes(self) -> list[str]:
        """The swept paths (keys of the trials' overrides)."""
        return _axes_of(self.trials)

    def summary(
        self,
        metrics: Sequence[str] | str | None = None,
        sort_by: str | None = None,
        ascending: bool | None = None,
    ) -> pd.DataFrame:
        """One row per configuration with mean/std over seeds and folds (see :func:`summarize`)."""
        return summarize(self.trials, self.axes, metrics=metrics, sort_by=sort_by, ascending=ascending)

    def history(self, trial_id: str) -> pd.DataFrame:
        """Wide per-epoch table of one trial: index ``epoch``, columns ``train_loss``, ``val_accuracy``..."""
        if "epochs" in self.__dict__ and (self.all or trial_id in set(self.trials["trial_id"])):
            epochs = self.epochs[self.epochs["trial_id"] == trial_id]
        else:
            epochs = self._query(epochs_frame, trial_id)
        if epochs.empty and trial_id not in set(self.trials["trial_id"]):
            raise StoreError(f"{self.path}: no trial {trial_id!r}")
        return history_frame(epochs)

    def config(self, trial_id: str) -> dict:
        return self._query(read_config, trial_id, self.path)

    def params(self, trial_id: str) -> dict[str, np.ndarray]:
        return self._query(read_npz, self.run_dir, self.path, trial_id, "params")

    def predictions(self, trial_id: str) -> dict[str, np.ndarray]:
        return self._query(read_npz, self.run_dir, self.path, trial_id, "predictions")


def load(run_dir: str | os.PathLike, *, all: bool = False) -> Run:  # noqa: A002
    """Open a run directory read-only. Raises :class:`StoreError` (one line) if it has no store.

    ``all=True``: every trial ever stored, not only those of the current study.
    """
    return Run(run_dir, all=all)
