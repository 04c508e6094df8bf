"""The analyses' view of a run: normalised frames plus lazy loaders.

:class:`RunData` is built from what :func:`sweeplab.store.load` returns (or
from a run directory) and fixes the column names the analyses rely on, so a
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
from typing import Callable

import numpy as np
import pandas as pd

EPOCH_COLUMNS = ["trial_id", "epoch", "split", "metric", "value"]


def _maybe_json(v):
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _get(obj, *path, default=None):
    """``obj.a.b`` or ``obj["a"]["b"]``, whichever exists."""
    for key in path:
        if obj is None:
            return default
        if isinstance(obj, dict):
            obj = obj.get(key)
        else:
            obj = getattr(obj, key, None)
    return default if obj is None else obj


def _as_dict(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return dict(obj)


@dataclass
class RunData:
    """A run, ready for analysis.

    Args:
        trials: one row per trial (see module docstring); finished and
            diverged trials only.
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

    # ---- construction

    @classmethod
    def from_frames(cls, trials: pd.DataFrame, epochs: pd.DataFrame, **kw) -> "RunData":
        """From raw frames (a store's, or hand-made in tests); columns are normalised."""
        axes = list(kw.pop("axes", None) or [])
        t = normalise_trials(trials, axes)
        e = normalise_epochs(epochs)
        if "status" in t:
            t = t[t["status"].isin(["finished", "diverged"])]
        return cls(trials=t, epochs=e[e["trial_id"].isin(t.index)].reset_index(drop=True), axes=axes, **kw)

    @classmethod
    def from_run(cls, run) -> "RunData":
        """From :func:`sweeplab.store.load`'s Run, a ``Store``, a RunData or a run directory."""
        if isinstance(run, RunData):
            return run
        if isinstance(run, (str, os.PathLike)):
            from sweeplab.store import load

            run = load(run)
        store = _get(run, "store") or run
        trials = _frame(run, "trials", store, "trials_frame")
        epochs = _frame(run, "epochs", store, "epochs_frame")
        study = _study_dict(_get(run, "study") if not callable(_get(run, "study")) else run.study())
        axes = list(_get(run, "axes") or [])
        if not axes:
            axes = list(_as_dict(study.get("sweep")).keys())
        run_dir = _get(run, "run_dir") or _get(store, "run_dir")
        return cls.from_frames(
            trials, epochs, axes=axes, study=study, run_dir=Path(run_dir) if run_dir else None,
            config_loader=_loader(run, store, "config"),
            params_loader=_loader(run, store, "load_params", "params"),
            predictions_loader=_loader(run, store, "load_predictions", "predictions"),
        )

    # ---- facts

    @property
    def name(self) -> str:
        return str(_get(self.study, "study", "name", default="") or _get(self.study, "name", default="") or "study")

    @property
    def report_spec(self) -> dict:
        return _as_dict(self.study.get("report"))

    def config(self, trial_id: str) -> dict:
        if self.config_loader is not None:
            return _as_dict(self.config_loader(trial_id))
        if "config" in self.trials.columns:
            return _as_dict(_maybe_json(self.trials.loc[trial_id, "config"]))
        return {k: self.study[k] for k in ("data", "model", "train") if k in self.study}

    def params(self, trial_id: str) -> dict[str, np.ndarray] | None:
        return _safe(self.params_loader, trial_id)

    def predictions(self, trial_id: str) -> dict[str, np.ndarray] | None:
        return _safe(self.predictions_loader, trial_id)

    def representative_trial(self, metric: str | None = None) -> str | None:
        """The trial shown in per-trial analyses: the first seed of the best configuration."""
        from sweeplab.analysis.tables import config_table, primary_metric

        t = self.trials
        if t.empty:
            return None
        try:
            metric = metric or primary_metric(t, self.report_spec.get("metrics"))
        except ValueError:
            return str(t.index[0])
        by = self.axes or ["config_id"]
        best = config_table(t, self.axes, sort_by=metric).iloc[0]
        mask = np.ones(len(t), bool)
        for a in by:
            mask &= (t[a].map(_key) == _key(best[a])).to_numpy()
        cand = t[mask].sort_values(["repeat"] if "repeat" in t else [])
        return str(cand.index[0] if len(cand) else t.index[0])


def _key(v):
    return str(v) if isinstance(v, (list, dict, tuple)) else v


def _safe(loader, trial_id):
    if loader is None:
        return None
    try:
        out = loader(trial_id)
    except (FileNotFoundError, KeyError, LookupError, OSError, ValueError):
        return None
    except Exception as exc:  # a store error for a trial without artifacts
        if type(exc).__name__ == "StoreError":
            return None
        raise
    return dict(out) if out else None


def _frame(run, attr, store, method) -> pd.DataFrame:
    v = _get(run, attr)
    if v is None or callable(v):
        v = getattr(store, method)()
    return v


def _loader(run, store, *names):
    for obj in (run, store):
        for name in names:
            fn = getattr(obj, name, None)
            if callable(fn):
                return fn
    return None


def _study_dict(study) -> dict:
    study = _as_dict(study)
    if "spec_json" in study:
        spec = _maybe_json(study["spec_json"])
        spec = dict(spec) if isinstance(spec, dict) else {}
        if "name" in study:
            spec.setdefault("study", {})
            spec["study"] = {**_as_dict(spec["study"]), "name": study["name"]}
        return spec
    return study


def normalise_trials(trials: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Trials frame with the columns of the module docstring."""
    t = trials.copy()
    if "trial_id" in t.columns:
        t = t.set_index("trial_id")
    t.index = t.index.astype(str)
    t.index.name = "trial_id"
    for col, prefix in (("test", "test_"), ("final", "")):
        if col in t.columns:
            expanded = pd.DataFrame([_as_dict(_maybe_json(v)) if v is not None else {} for v in t[col]], index=t.index)
            expanded.columns = [c if c.startswith(prefix) else prefix + c for c in expanded.columns]
            t = t.drop(columns=[col]).join(expanded[[c for c in expanded.columns if c not in t.columns]])
    if "overrides" in t.columns:
        ov = [_as_dict(_maybe_json(v)) if v is not None else {} for v in t["overrides"]]
        for a in axes:
            if a not in t.columns:
                t[a] = [o.get(a) for o in ov]
    for a in axes:
        if a not in t.columns:
            t[a] = None
    if "time_per_epoch" not in t.columns:
        for alt in ("seconds_per_epoch", "epoch_time", "time_per_epoch_s"):
            if alt in t.columns:
                t["time_per_epoch"] = pd.to_numeric(t[alt], errors="coerce")
                break
        else:
            if "epoch_seconds" in t.columns:
                t["time_per_epoch"] = [
                    float(np.median(s)) if isinstance(s, list) and s else np.nan
                    for s in t["epoch_seconds"].map(_maybe_json)
                ]
    for c in ("seed", "repeat"):
        if c not in t.columns:
            t[c] = 0
    if "config_id" not in t.columns:
        t["config_id"] = t[axes].astype(str).agg("|".join, axis=1) if axes else "all"
    return t


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


