"""The one reader of results: :class:`Run` (what :func:`sweeplab.store.load` returns) and its DataFrames.

The CLI, the analyses, the report and notebooks read a run directory only
through :class:`Run`; the writer (:class:`sweeplab.store.Store`) answers
nothing but :meth:`~sweeplab.store.Store.finished_ids` and the resume checks.
Summaries over seeds are the analyses' (:func:`sweeplab.analysis.tables.summarize`).
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StoreError, sqlite_error
from .paths import DB_NAME
from .reader import current_filter, open_readonly, read_config, read_npz, read_study, verify_artifacts
from .schema import from_json

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

_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, "grad": 3}


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
