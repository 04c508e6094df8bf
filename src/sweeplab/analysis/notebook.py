"""Notebook API: tables as DataFrames and plots as matplotlib Figures.

Example:
    >>> run = sweeplab.analysis.attach(sweeplab.store.load("runs/batch-size"))
    >>> run.table("train.batch_size")          # one row per value, mean ± std
    >>> run.plot.learning_curves()             # mean curves per value, shaded ±1 std
"""

from __future__ import annotations

import pandas as pd

from sweeplab.analysis import classification as _cls
from sweeplab.analysis import curves as _curves
from sweeplab.analysis import stats as _stats
from sweeplab.analysis import tables as _tables
from sweeplab.analysis.rundata import RunData


class RunAnalysis:
    """Analyses of one run. Wraps what :func:`sweeplab.store.load` returns.

    Args:
        run: a store ``Run``, a run directory, or a :class:`RunData`.

    Attributes:
        run: the wrapped object (its own attributes stay reachable: ``.trials``,
            ``.epochs``, ``.summary()``...).
        plot: figure-making methods, see :class:`Plots`.
    """

    def __init__(self, run):
        self.run = run
        self.data = RunData.from_run(run)
        self.plot = Plots(self)

    def __getattr__(self, name):  # fall through to the store's Run
        if name in ("run", "data", "plot"):
            raise AttributeError(name)
        return getattr(self.run, name)

    def __repr__(self) -> str:
        return f"RunAnalysis({self.data.name!r}, {len(self.data.trials)} trials, axes={self.data.axes})"

    @property
    def axes(self) -> list[str]:
        return self.data.axes

    def _metrics(self, metrics):
        return metrics or self.data.report_spec.get("metrics")

    def table(self, axis: str | None = None, metrics=None, *, sort_by=None, top_n=None, formatted=False) -> pd.DataFrame:
        """Per-axis table (one row per value of ``axis``) or, without ``axis``,
        one row per configuration; mean/std/n over seeds, best first, ``best`` marked.

        Args:
            formatted: return ``mean ± std`` strings ready to print.
        """
        t = self.data.trials
        m = self._metrics(metrics)
        if axis is None:
            table = _tables.config_table(t, self.axes, m, sort_by=sort_by, top_n=top_n)
        else:
            if axis not in t.columns:
                raise KeyError(f"{axis!r} is not a sweep axis of this run; axes: {', '.join(self.axes) or '(none)'}")
            table = _tables.axis_table(t, axis, m, sort_by=sort_by)
        return _tables.format_table(table) if formatted else table

    def compare(self, metric: str | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
        """Welch's t-test of the best configuration against each other one."""
        t = self.data.trials
        metric = metric or _tables.primary_metric(t, self._metrics(None))
        key = _config_key(t, self.axes)
        return _stats.compare_with_best(t.assign(configuration=key), "configuration", metric, alpha=alpha)

    def best(self, metric: str | None = None) -> str:
        """The best configuration in one sentence, with its numbers."""
        return _tables.best_sentence(self.data.trials, self.axes, self._metrics(None), metric=metric)

    def history(self, trial_id: str) -> pd.DataFrame:
        return _curves.trial_history(self.data.epochs, trial_id)

    def gradient_flow(self, trial_id: str) -> dict[str, pd.DataFrame]:
        return _curves.gradient_flow(self.data.epochs, trial_id)

    def confusion(self, trial_id: str | None = None, head: str | None = None, normalize: str | None = None) -> pd.DataFrame:
        """Confusion matrix of a trial's test predictions (default: the best trial)."""
        y_true, y_pred, _ = self._predictions(trial_id, head)
        return _cls.confusion_frame(_cls.confusion_matrix(y_true, y_pred), normalize=normalize)

    def scores(self, trial_id: str | None = None, head: str | None = None, average=None) -> _cls.Scores:
        y_true, y_pred, _ = self._predictions(trial_id, head)
        return _cls.precision_recall_f1(y_true, y_pred, average)

    def misclassified(self, trial_id: str | None = None, head: str | None = None, n: int = 25) -> pd.DataFrame:
        tid = trial_id or self.data.representative_trial()
        y_true, y_pred, proba = self._predictions(tid, head)
        preds = self.data.predictions(tid) or {}
        return _cls.misclassified(y_true, y_pred, proba, preds.get("index"), n=n)

    def _predictions(self, trial_id, head):
        tid = trial_id or self.data.representative_trial()
        preds = self.data.predictions(tid)
        if not preds:
            raise LookupError(f"trial {tid!r} has no saved predictions")
        head = head or heads(preds)[0]
        return preds.get(f"y_true/{head}"), preds.get(f"y_pred/{head}"), preds.get(f"proba/{head}")


def heads(predictions: dict) -> list[str]:
    """Head names present in a predictions dict (``y_true/<head>`` keys)."""
    return [k.split("/", 1)[1] for k in predictions if k.startswith("y_true/")]


def _config_key(trials: pd.DataFrame, axes: list[str]) -> pd.Series:
    if not axes:
        return trials["config_id"].astype(str)
    return trials[axes].astype(str).apply(lambda r: ", ".join(f"{a}={v}" for a, v in zip(axes, r)), axis=1)


class Plots:
    """Figure methods of :class:`RunAnalysis`; each returns a matplotlib Figure."""

    def __init__(self, owner: RunAnalysis):
        self._o = owner

    def learning_curves(self, axis: str | None = "auto", metrics=None, trial_id: str | None = None):
        """Mean learning curves per value of ``axis`` (default: the first axis)
        with a ±1 std band; with ``trial_id``, that trial's own curves."""
        from sweeplab.report import figures_study as fs

        d = self._o.data
        if trial_id is not None:
            return fs.learning_curves(d.epochs, trial_id, metrics)
        axis = (d.axes[0] if d.axes else None) if axis == "auto" else axis
        return fs.mean_learning_curves(d.epochs, d.trials, axis, metrics)

    def effect(self, axis: str | None = None, metrics=None, by: str | None = None):
        """Metric(s) against a sweep axis with ±1 std error bars."""
        from sweeplab.report import figures_study as fs

        d = self._o.data
        axis = axis or d.axes[0]
        metrics = metrics or [_tables.primary_metric(d.trials, self._o._metrics(None))]
        metrics = [m if m in d.trials.columns else f"test_{m}" for m in metrics]
        return fs.effect_plot(d.trials, axis, metrics, by=by)

    def heatmap(self, rows: str | None = None, cols: str | None = None, metric: str | None = None):
        from sweeplab.report import figures_study as fs

        d = self._o.data
        rows, cols = rows or d.axes[0], cols or d.axes[1]
        metric = metric or _tables.primary_metric(d.trials, self._o._metrics(None))
        return fs.heatmap(d.trials, rows, cols, metric)

    def gradient_flow(self, trial_id: str | None = None):
        from sweeplab.report import figures_trial as ft

        tid = trial_id or self._o.data.representative_trial()
        return ft.gradient_flow(_curves.gradient_flow(self._o.data.epochs, tid))

    def confusion(self, trial_id: str | None = None, head: str | None = None, class_names=None):
        from sweeplab.report import figures_trial as ft

        y_true, y_pred, _ = self._o._predictions(trial_id, head)
        return ft.confusion(_cls.confusion_matrix(y_true, y_pred), class_names)

    def pr_curve(self, trial_id: str | None = None, head: str | None = None):
        from sweeplab.report import figures_trial as ft

        y_true, _, proba = self._o._predictions(trial_id, head)
        p, r, _, ap = _cls.precision_recall_curve(y_true, proba)
        return ft.pr_curve(p, r, ap, prevalence=float((_cls._labels(y_true) == 1).mean()))

    def decision_regions(self, predict, x, y, class_names=None):
        """Decision regions of ``predict(points) -> proba`` over 2-D points ``x`` with labels ``y``."""
        from sweeplab.analysis.model_view import decision_regions
        from sweeplab.report import figures_trial as ft

        xx, yy, proba = decision_regions(predict, x)
        return ft.decision_regions(xx, yy, proba, x, y, class_names)
