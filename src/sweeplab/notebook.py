"""Notebook API: tables as DataFrames and plots as matplotlib Figures.

The façade at the top of the package: it reads a run through
:mod:`sweeplab.analysis` and draws with the report's figure functions.

Example:
    >>> run = sweeplab.load("runs/batch-size")
    >>> run.table("train.batch_size")          # one row per value, mean ± std
    >>> run.plot.learning_curves()             # mean curves per value, shaded ±1 std
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sweeplab.analysis import classification as _cls
from sweeplab.analysis import curves as _curves
from sweeplab.analysis import stats as _stats
from sweeplab.analysis import tables as _tables
from sweeplab.analysis.rundata import RunData, config_key, heads


__all__ = ["RunAnalysis", "Plots", "attach"]


def attach(run) -> "RunAnalysis":
    """Wrap a store ``Run`` (or a run directory, or a :class:`RunData`) with tables
    and plots: a :class:`RunAnalysis` that also forwards the Run's attributes."""
    return run if isinstance(run, RunAnalysis) else RunAnalysis(run)


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

    def axis(self, name: str) -> str:
        """The full dotted path of an axis given by it or by the short name the
        CLI and the report print (``dropout`` -> ``model.mlp.dropout``).

        Raises:
            KeyError: naming the axes when ``name`` matches none or several.
        """
        if name in self.axes:
            return name
        hits = [a for a in self.axes if a.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        what = "matches several axes" if hits else "is not a sweep axis of this run"
        raise KeyError(f"{name!r} {what}; axes: {', '.join(self.axes) or '(none)'}")

    @property
    def selection(self) -> _tables.Selection:
        """How configurations are ranked: ``.metric`` (e.g. ``val_accuracy``),
        ``.report`` (the test metric shown beside it), ``.split``, ``.note``."""
        return self.data.selection

    def summary(self, metrics=None, sort_by: str | None = None, ascending: bool | None = None) -> pd.DataFrame:
        """One row per configuration (pending ones too): ``n``, ``diverged`` and
        ``<metric>``/``<metric>_std``, ranked like the report (the selection
        metric, validation first) unless ``sort_by`` says otherwise."""
        from sweeplab.analysis.tables import default_metrics, summarize

        trials = self.run.trials
        axes = list(self.run.axes)
        if metrics is None:
            metrics = list(dict.fromkeys(self.selection.columns + default_metrics(trials, axes))) \
                if not self.data.trials.empty else None
        if sort_by is None and not self.data.trials.empty:
            sort_by = self.selection.metric
            metrics = list(dict.fromkeys([*(metrics or []), sort_by]))
        return summarize(trials, axes, metrics, sort_by, ascending)

    def table(self, axis: str | None = None, metrics=None, *, sort_by=None, top_n=None, formatted=False) -> pd.DataFrame:
        """Per-axis table (one row per value of ``axis``, full or short name) or,
        without ``axis``, one row per configuration; mean/std/n over seeds, best
        first by the selection metric (validation when the study has it).

        Args:
            formatted: return ``mean ± std`` strings ready to print.
        """
        t = self.data.trials
        m = self._metrics(metrics)
        sort_by = sort_by or self.selection.metric
        if axis is None:
            table = _tables.config_table(t, self.axes, m, sort_by=sort_by, top_n=top_n,
                                         majority=self.data.majority_share())
        else:
            table = _tables.axis_table(t, self.axis(axis), m, sort_by=sort_by)
        return _tables.format_table(table, columns=_tables.display_columns(table, self.selection)) if formatted \
            else table

    def compare(self, metric: str | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
        """Welch's t-test of the best configuration against each other one
        (on the selection metric by default; Holm-corrected ``p_holm``)."""
        t = self.data.trials
        metric = metric or self.selection.metric
        key = config_key(t, self.axes)
        return _stats.compare_with_best(t.assign(configuration=key), "configuration", metric, alpha=alpha)

    def best(self, metric: str | None = None) -> str:
        """The best configuration in one sentence, with its numbers."""
        sel = self.selection if metric is None else _tables.Selection(metric, None, metric.split("_", 1)[0])
        return _tables.best_sentence(self.data.trials, self.axes, self._metrics(None), sel=sel)

    @property
    def best_trials(self) -> list[str]:
        """Trial ids of the best configuration's seeds, first seed first
        (ranked as :attr:`selection` says)."""
        return self.data.best_trials()

    @property
    def best_params(self) -> dict:
        """The swept values of the best configuration, ``{axis: value}`` with
        lists as lists (like Optuna's ``best_params``, scikit-learn's ``best_params_``)."""
        from sweeplab import values as V

        ids = self.best_trials
        if not ids:
            raise LookupError("the run has no finished trials yet")
        row = self.data.trials.loc[ids[0]]
        return {a: V.to_plain(row[a]) for a in self.axes}

    @property
    def best_config(self) -> dict:
        """The best configuration's full resolved configuration (data, model, train)."""
        ids = self.best_trials
        if not ids:
            raise LookupError("the run has no finished trials yet")
        return self.data.config(ids[0])

    def analyses(self) -> pd.DataFrame:
        """The report's analyses (:data:`sweeplab.vocab.analyses.ANALYSES`), one row
        each: ``name``, ``level`` (study or trial), ``title``, ``needs`` and
        ``default`` (whether a report of this run shows it unless told otherwise)."""
        from sweeplab.report import build
        from sweeplab.report.build_trial import TrialContext
        from sweeplab.vocab.analyses import ANALYSES

        tid = None if self.data.trials.empty else self.data.representative_trial()
        chosen = set(build.default_analyses(self.data, TrialContext(self.data, tid) if tid else None))
        return pd.DataFrame([{"name": a.name, "level": a.level, "title": a.title, "needs": a.needs,
                              "default": a.name in chosen} for a in ANALYSES])

    def model(self, trial_id: str | None = None):
        """A trial's trained model (default: first seed of the best configuration) with
        Keras-like ``predict``/``evaluate``; see :mod:`sweeplab.trained` and docs/models.md."""
        from sweeplab.trained import from_run

        return from_run(self, trial_id)

    def models(self) -> list:
        """One trained model per seed of the best configuration (first seed first);
        ``run.ensemble().test_metrics()`` compares them with their average."""
        from sweeplab.trained import models_from_run

        return models_from_run(self)

    def ensemble(self):
        """The best configuration's seeds as one model that averages their probabilities."""
        from sweeplab.trained import Ensemble, models_from_run

        return Ensemble(models_from_run(self))

    def history(self, trial_id: str | None = None) -> pd.DataFrame:
        """A trial's per-epoch history with Keras ``History.history`` names
        (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``; plus ``test_*``
        when test data was evaluated every epoch). Default: the best trial."""
        return _curves.keras_history(self.data.epochs, self._trial(trial_id))

    def gradient_flow(self, trial_id: str | None = None) -> dict[str, pd.DataFrame]:
        return _curves.gradient_flow(self.data.epochs, self._trial(trial_id))

    def confusion(self, trial_id: str | None = None, head: str | None = None, normalize: str | None = None) -> pd.DataFrame:
        """Confusion matrix of a trial's test predictions (default: the best trial)."""
        y_true, y_pred, _ = self._predictions(trial_id, head)
        return _cls.confusion_frame(_cls.confusion_matrix(y_true, y_pred), normalize=normalize)

    def scores(self, trial_id: str | None = None, head: str | None = None, average=None) -> _cls.Scores:
        """Per-class precision, recall and F1 of a trial (default: the best trial)."""
        y_true, y_pred, _ = self._predictions(trial_id, head)
        return _cls.precision_recall_f1(y_true, y_pred, average)

    def misclassified(self, trial_id: str | None = None, head: str | None = None, n: int = 25) -> pd.DataFrame:
        """The worst misclassified test examples of a trial (default: the best trial)."""
        tid = self._trial(trial_id)
        y_true, y_pred, proba = self._predictions(tid, head)
        preds = self.data.predictions(tid) or {}
        return _cls.misclassified(y_true, y_pred, proba, preds.get("index"), n=n)

    def _trial(self, trial_id: str | None) -> str:
        if trial_id is not None:
            if str(trial_id) not in self.data.trials.index:
                raise LookupError(f"no finished trial {trial_id!r} in this run")
            return str(trial_id)
        tid = self.data.representative_trial()
        if tid is None:
            raise LookupError("the run has no finished trials yet")
        return tid

    def _predictions(self, trial_id, head):
        tid = self._trial(trial_id)
        preds = self.data.predictions(tid)
        if not preds:
            reason = self.data.damaged.get(tid)
            raise LookupError(f"trial {tid!r} has no readable saved predictions" + (f" ({reason})" if reason else ""))
        head = head or heads(preds)[0]
        return preds.get(f"y_true/{head}"), preds.get(f"y_pred/{head}"), preds.get(f"proba/{head}")


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
            return fs.learning_curves(d.epochs, self._o._trial(trial_id), metrics)
        axis = (d.axes[0] if d.axes else None) if axis == "auto" else (self._o.axis(axis) if axis else None)
        return fs.mean_learning_curves(d.epochs, d.trials, axis, metrics)

    def effect(self, axis: str | None = None, metrics=None, by: str | None = None):
        """Metric(s) against a sweep axis with ±1 std error bars."""
        from sweeplab.report import figures_study as fs

        d = self._o.data
        axis = self._o.axis(axis) if axis else d.axes[0]
        by = self._o.axis(by) if by else None
        metrics = metrics or self._o.selection.columns
        metrics = [m if m in d.trials.columns else f"test_{m}" for m in metrics]
        return fs.effect_plot(d.trials, axis, metrics, by=by)

    def heatmap(self, rows: str | None = None, cols: str | None = None, metric: str | None = None):
        from sweeplab.report import figures_study as fs

        d = self._o.data
        rows = self._o.axis(rows) if rows else d.axes[0]
        cols = self._o.axis(cols) if cols else d.axes[1]
        metric = metric or self._o.selection.metric
        return fs.heatmap(d.trials, rows, cols, metric)

    def gradient_flow(self, trial_id: str | None = None):
        from sweeplab.report import figures_trial as ft

        return ft.gradient_flow(_curves.gradient_flow(self._o.data.epochs, self._o._trial(trial_id)))

    def confusion(self, trial_id: str | None = None, head: str | None = None, class_names=None):
        from sweeplab.report import figures_trial as ft

        y_true, y_pred, _ = self._o._predictions(trial_id, head)
        return ft.confusion(_cls.confusion_matrix(y_true, y_pred), class_names)

    def pr_curve(self, trial_id: str | None = None, head: str | None = None):
        from sweeplab.report import figures_trial as ft

        y_true, _, proba = self._o._predictions(trial_id, head)
        if proba is None:
            raise LookupError("this trial saved no class probabilities: no precision-recall curve")
        if np.ndim(proba) == 2 and np.shape(proba)[1] > 2:
            return _pr_one_vs_rest(y_true, proba)
        p, r, _, ap = _cls.precision_recall_curve(y_true, proba)
        return ft.pr_curve(p, r, ap, prevalence=float((_cls.class_labels(y_true) == 1).mean()))

    def decision_regions(self, predict, x, y, class_names=None):
        """Decision regions of ``predict(points) -> proba`` over 2-D points ``x`` with labels ``y``."""
        from sweeplab.analysis.model_view import decision_regions
        from sweeplab.report import figures_trial as ft

        xx, yy, proba = decision_regions(predict, x)
        return ft.decision_regions(xx, yy, proba, x, y, class_names)


def _pr_one_vs_rest(y_true, proba):
    """One precision-recall curve per class (that class against the rest) on one axes."""
    from sweeplab.report import style

    y = _cls.class_labels(y_true)
    fig = style.figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for k in range(np.shape(proba)[1]):
        p, r, _, ap = _cls.precision_recall_curve((y == k).astype(int), np.asarray(proba)[:, k])
        ax.step(r, p, where="post", color=style.color(k), linestyle=style.linestyle(k),
                label=f"{k} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("precision-recall, one class against the rest")
    style.legend_outside(ax, title="class")
    return fig
