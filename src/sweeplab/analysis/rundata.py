"""The analyses' view of a run: normalised frames plus lazy loaders.

:class:`RunData` is built from the one results reader, a
:class:`sweeplab.store.Run` (what :func:`sweeplab.store.load` returns), or
from a run directory, and fixes the column names the analyses rely on, so a
change in the store's frames is absorbed here, in one place.

Trials frame (index ``trial_id``): ``config_id, seed, repeat, fold, status,
epochs_run, n_params, time_per_epoch``, one column per sweep axis (its
dotted path), ``test_<metric>`` and the final ``train_<metric>``/``val_<metric>``.
Epochs frame (long): ``trial_id, epoch, split, metric, value``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from sweeplab import values as V
from sweeplab.store.errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    from sweeplab.store import Run

EPOCH_COLUMNS = ["trial_id", "epoch", "split", "metric", "value"]


def _maybe_json(v):
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


@dataclass
class RunData:
    """A run, ready for analysis.

    Args:
        trials: one row per trial (see module docstring); finished and
            diverged trials only, of configurations none of whose trials was pruned.
        pruned: the trials of the configurations a search pruned (any of their
            trials stopped with status ``pruned``; their finished seeds too): not
            ranked, since the configuration's seeds did not all finish (what the
            search's sampler was told too).
        epochs: long per-epoch frame.
        axes: swept dotted paths, in study order.
        study: the study spec as a dict (``study``, ``data``, ``model``,
            ``train``, ``sweep``, ``report`` sections).
        run_dir: the run directory (reports are written there).
        config_loader, params_loader, predictions_loader: per-trial loaders.
    """

    trials: pd.DataFrame
    epochs: pd.DataFrame
    axes: list[str] = field(default_factory=list)
    study: dict = field(default_factory=dict)
    run_dir: Path | None = None
    config_loader: Callable[[str], dict] | None = None
    params_loader: Callable[[str], dict] | None = None
    predictions_loader: Callable[[str], dict] | None = None
    damaged: dict = field(default_factory=dict)
    damaged_loader: Callable[[], dict] | None = None
    pruned: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: ``{trial_id: position}`` in the store (the order a search asked), for :attr:`trials` and :attr:`pruned`
    order: dict = field(default_factory=dict, repr=False)
    _selection: tuple | None = field(default=None, repr=False)
    _majority: tuple | None = field(default=None, repr=False)

    # ---- construction

    @classmethod
    def from_frames(cls, trials: pd.DataFrame, epochs: pd.DataFrame, **kw) -> "RunData":
        """From a :class:`~sweeplab.store.Run`'s frames (or frames shaped like them); columns are normalised."""
        axes = list(kw.pop("axes", None) or [])
        t = normalise_trials(trials, axes)
        e = normalise_epochs(epochs)
        pruned, order = t.iloc[:0], {tid: i for i, tid in enumerate(t.index)}
        if "status" in t:
            cut = t["config_id"].isin(t.loc[t["status"] == "pruned", "config_id"])
            pruned = t[cut & t["status"].isin(["finished", "diverged", "pruned"])]
            t = t[~cut & t["status"].isin(["finished", "diverged"])]
        return cls(trials=t, epochs=e[e["trial_id"].isin(t.index)].reset_index(drop=True), axes=axes,
                   pruned=pruned, order=order, **kw)

    @classmethod
    def from_run(cls, run: "Run | str | os.PathLike | RunData") -> "RunData":
        """From the results reader: a :class:`sweeplab.store.Run` or a run directory (opened read-only)."""
        if isinstance(run, RunData):
            return run
        if isinstance(run, (str, os.PathLike)):
            from sweeplab.store import load

            run = load(run)
        study = _study_spec(run.study)
        axes = list(run.axes) or list((study.get("sweep") or {}).keys())
        return cls.from_frames(
            run.trials, run.epochs, axes=axes, study=study, run_dir=Path(run.run_dir),
            config_loader=run.config, params_loader=run.params, predictions_loader=run.predictions,
            damaged_loader=run.damaged_trials,
        )

    # ---- facts

    @property
    def name(self) -> str:
        return str((self.study.get("study") or {}).get("name") or self.study.get("name") or "study")

    @property
    def report_spec(self) -> dict:
        return dict(self.study.get("report") or {})

    def config(self, trial_id: str) -> dict:
        if self.config_loader is not None:
            return dict(self.config_loader(trial_id))
        return {k: self.study[k] for k in ("data", "model", "train") if k in self.study}

    def params(self, trial_id: str) -> dict[str, np.ndarray] | None:
        """A trial's saved parameters; None when it has none (a damaged file is
        recorded in :attr:`damaged` with the reason, for the report to say)."""
        return _safe(self.params_loader, trial_id, self.damaged, "params")

    def predictions(self, trial_id: str) -> dict[str, np.ndarray] | None:
        return _safe(self.predictions_loader, trial_id, self.damaged, "predictions")

    @property
    def selection(self):
        """How configurations are ranked (:func:`sweeplab.analysis.tables.selection`):
        on validation data when the study has it, else on test, or as
        ``[report] select_by`` says."""
        from sweeplab.analysis.tables import selection

        key = (len(self.trials), tuple(self.report_spec.get("metrics") or ()), self.report_spec.get("select_by"))
        if self._selection is None or self._selection[0] != key:
            self._selection = (key, selection(self.trials, self.report_spec.get("metrics"),
                                              self.report_spec.get("select_by"), self.study))
        return self._selection[1]

    def config_table(self, metric: str | None = None):
        """One row per configuration, best first by ``metric`` (default: the selection metric)."""
        from sweeplab.analysis.tables import config_table

        return config_table(self.trials, self.axes, self.report_spec.get("metrics"),
                            sort_by=metric or self.selection.metric, majority=self.majority_share())

    def best_config_id(self, metric: str | None = None) -> str | None:
        """``config_id`` of the best configuration (None for an empty run)."""
        if self.trials.empty:
            return None
        table = self.config_table(metric)
        if "config_id" in table.columns:
            return str(table["config_id"].iloc[0])
        return None

    def trials_of(self, config: dict | str) -> list[str]:
        """Trial ids of one configuration, first seed first.

        Args:
            config: a ``config_id``, or ``{axis: value}`` for every axis
                (values compared in canonical form: ``[64]`` equals ``(64,)``).

        Raises:
            LookupError: when no trial matches (never a silent fallback).
        """
        from sweeplab import values as V

        t = self.trials
        if isinstance(config, str):
            mask = t["config_id"].astype(str).eq(config).to_numpy() if "config_id" in t else np.zeros(len(t), bool)
        else:
            mask = np.ones(len(t), bool)
            for a, v in config.items():
                if a not in t.columns:
                    raise LookupError(f"{a!r} is not a sweep axis of this run; axes: {', '.join(self.axes) or '(none)'}")
                mask &= np.fromiter((V.same(x, v) for x in t[a]), bool, len(t))
        cand = t[mask]
        if cand.empty:
            raise LookupError(f"no trial of this run has configuration {config!r}")
        order = [c for c in ("repeat", "fold", "seed") if c in cand.columns]
        cand = cand.sort_values(order, kind="mergesort") if order else cand
        return [str(i) for i in cand.index]

    def best_trials(self, metric: str | None = None) -> list[str]:
        """Trial ids of the best configuration's seeds (first seed first)."""
        if self.trials.empty:
            return []
        table = self.config_table(metric)
        best = table.iloc[0]
        if "config_id" in table.columns:
            return self.trials_of(str(best["config_id"]))
        return self.trials_of({a: best[a] for a in self.axes})

    def representative_trial(self, metric: str | None = None) -> str | None:
        """The trial shown in per-trial analyses: the first seed of the best configuration."""
        ids = self.best_trials(metric)
        return ids[0] if ids else None

    def majority_share(self) -> float | None:
        """Share of the most frequent class in the test labels (None when unknown)."""
        if self._majority is not None:
            return self._majority[0]
        share = None
        if not self.trials.empty and self.predictions_loader is not None:
            for tid in list(self.trials.index[:3]):
                preds = self.predictions(tid) or {}
                ys = [v for k, v in preds.items() if k.startswith("y_true/")]
                if ys and np.asarray(ys[0]).ndim == 1 and np.issubdtype(np.asarray(ys[0]).dtype, np.integer):
                    counts = np.bincount(np.asarray(ys[0]).astype(np.int64))
                    share = float(counts.max() / counts.sum()) if counts.sum() else None
                    break
        self._majority = (share,)
        return share


def _safe(loader, trial_id, damaged: dict | None = None, kind: str = ""):
    if loader is None:
        return None
    try:
        out = loader(trial_id)
    except StoreError as exc:  # a missing, unreadable or tampered artifact
        _note_damage(damaged, trial_id, kind, exc)
        return None
    return dict(out) if out else None


def _note_damage(damaged: dict | None, trial_id: str, kind: str, exc: BaseException) -> None:
    """Record why an artifact could not be read; a trial that simply has no
    artifact of this kind (none was saved) is not damage."""
    if damaged is None:
        return
    text = str(exc)
    if "no " in text and ("artifact" in text or "saved" in text) and "missing" not in text:
        return
    damaged.setdefault(str(trial_id), f"{kind}: {text.splitlines()[0] if text else type(exc).__name__}")


def _study_spec(study: dict | None) -> dict:
    """The study spec (``study``, ``data``, ``model``... sections) from :attr:`sweeplab.store.Run.study`."""
    if not study:
        return {}
    spec = _maybe_json(study.get("spec_json"))
    spec = dict(spec) if isinstance(spec, dict) else {}
    if study.get("name"):
        spec["study"] = {**(spec.get("study") or {}), "name": study["name"]}
    return spec


def normalise_trials(trials: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Trials frame with the columns of the module docstring, from :attr:`sweeplab.store.Run.trials`.

    ``time_per_epoch`` is the trial's share of its compiled group's time per
    epoch (the store's ``seconds_per_epoch`` is the whole group's).
    """
    t = trials.copy()
    if "trial_id" in t.columns:
        t = t.set_index("trial_id")
    t.index = t.index.astype(str)
    t.index.name = "trial_id"
    for a in axes:
        if a not in t.columns:
            t[a] = None
        t[a] = pd.Series([V.canonical(_maybe_json(v)) for v in t[a]], index=t.index, dtype=object)
    if "time_per_epoch" not in t.columns and "seconds_per_epoch" in t.columns:
        t["group_seconds_per_epoch"] = pd.to_numeric(t["seconds_per_epoch"], errors="coerce")
        t["time_per_epoch"] = t["group_seconds_per_epoch"] / _group_sizes(t)
    for c in ("seed", "repeat"):
        if c not in t.columns:
            t[c] = 0
    if "config_id" not in t.columns:
        t["config_id"] = t[axes].astype(str).agg("|".join, axis=1) if axes else "all"
    return t


def _group_sizes(t: pd.DataFrame) -> pd.Series:
    """How many trials trained together in each trial's compiled group (1 when
    the store does not say: stores written before groups were recorded)."""
    if "group" not in t.columns:
        return pd.Series(1.0, index=t.index)
    g = t["group"].fillna("").astype(str)
    sizes = g.map(g.value_counts()).astype(float)
    return sizes.where(g.ne(""), 1.0)


def normalise_epochs(epochs: pd.DataFrame) -> pd.DataFrame:
    """Long epochs frame ``trial_id, epoch, split, metric, value``."""
    e = epochs.reset_index() if "trial_id" not in epochs.columns else epochs
    missing = [c for c in EPOCH_COLUMNS if c not in e.columns]
    if missing:
        raise ValueError(f"epochs frame lacks columns {missing}; has {list(e.columns)}")
    e = e[EPOCH_COLUMNS].copy()
    e["trial_id"] = e["trial_id"].astype(str)
    e["value"] = pd.to_numeric(e["value"], errors="coerce")
    return e




# ----------------------------------------------------------------------------- labels
# Shared by the report, the CLI and the notebook façade (sweeplab.notebook).

def heads(predictions: dict) -> list[str]:
    """Head names present in a predictions dict (``y_true/<head>`` keys)."""
    return [k.split("/", 1)[1] for k in predictions if k.startswith("y_true/")]


def config_key(trials: pd.DataFrame, axes: list[str]) -> pd.Series:
    """One label per trial naming its configuration (``activation=relu, hidden=[64]``)."""
    if not axes:
        return trials["config_id"].astype(str)
    short = short_names(axes)
    return pd.Series([", ".join(f"{s}={V.label(v)}" for s, v in zip(short, row))
                      for row in trials[axes].itertuples(index=False)], index=trials.index, dtype=object)


def short_names(paths: list[str]) -> list[str]:
    """The shortest unique dotted suffix of each axis path (model.mlp.hidden -> hidden)."""
    for k in range(1, max((p.count(".") + 1 for p in paths), default=1) + 1):
        names = [".".join(p.split(".")[-k:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return list(paths)
