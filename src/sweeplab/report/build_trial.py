"""Per-trial report sections, shown for one representative trial (the first
seed of the best configuration): learning curves, confusion matrix, scores,
precision-recall curve, misclassified gallery, gradient flow, conv filters,
feature maps, decision regions, parameter summary.

Each builder ``fn(ctx, metrics)`` returns the items of its section (or a note
saying why it was skipped); ``report/build.py::BUILDERS`` registers them under
the names of :data:`sweeplab.vocab.analyses.ANALYSES`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sweeplab.analysis import classification as cls
from sweeplab.analysis import curves, model_view
from sweeplab.analysis.rundata import RunData, heads
from sweeplab.report import figures_study as fs
from sweeplab.report import figures_trial as ft
from sweeplab.report.model import FigureItem, TableItem, TextItem


class TrialContext:
    """Lazily loaded facts about one trial, shared by the per-trial builders."""

    def __init__(self, rd: RunData, trial_id: str):
        self.rd, self.tid = rd, trial_id
        self._cache: dict = {}

    def _get(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def predictions(self) -> dict:
        return self._get("pred", lambda: self.rd.predictions(self.tid) or {})

    @property
    def params(self) -> dict:
        return self._get("params", lambda: self.rd.params(self.tid) or {})

    @property
    def config(self) -> dict:
        return self._get("config", lambda: self.rd.config(self.tid))

    @property
    def data(self):
        """The prepared dataset (test images for galleries), or None with the reason kept."""
        return self._get("data", self._prepare)

    def _prepare(self):
        try:
            from sweeplab.data import is_cached, prepare
            from sweeplab.data.spec import DataSpec

            name = self.config["data"]["dataset"]
            if not is_cached(name):  # a report never downloads
                raise LookupError(f"dataset {name!r} is not in the local data cache")
            seed = int((self.rd.study.get("study") or {}).get("seed", 0))
            return prepare(DataSpec.model_validate(self.config["data"]), seed=seed)
        except Exception as exc:  # no data module yet, dataset offline, ...
            self._cache["data_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            return None

    def class_heads(self) -> list[str]:
        """Heads with class predictions (probabilities or integer labels)."""
        out = []
        for h in heads(self.predictions):
            yp = self.predictions.get(f"y_pred/{h}")
            if f"proba/{h}" in self.predictions or (yp is not None and np.asarray(yp).dtype.kind in "iub"):
                out.append(h)
        return out

    def regression_heads(self) -> list[str]:
        """Heads with real-valued predictions (no probabilities)."""
        return [h for h in heads(self.predictions) if h not in self.class_heads()]

    def class_names(self, head: str, k: int):
        info = getattr(self.data, "heads", None)
        try:
            names = info[head].class_names if isinstance(info, dict) else None
        except (KeyError, AttributeError):
            names = None
        return list(names) if names is not None and len(names) == k else [str(i) for i in range(k)]

    def test_images(self, index):
        d = self.data
        test = getattr(d, "test", None)
        x = getattr(test, "x", None) if test is not None else None
        if x is None or np.ndim(x) != 4:
            return None
        return np.asarray(x)[np.asarray(index, int)]


def _cm(ctx: TrialContext, head: str):
    p = ctx.predictions
    y_true, y_pred = p[f"y_true/{head}"], p.get(f"y_pred/{head}")
    k = int(np.asarray(p[f"proba/{head}"]).shape[-1]) if f"proba/{head}" in p and np.ndim(p[f"proba/{head}"]) == 2 else None
    k = k if k and k > 1 else None
    return cls.confusion_matrix(y_true, y_pred if y_pred is not None else p[f"proba/{head}"], k)


def _suffix(ctx, head):
    return "" if len(ctx.class_heads()) <= 1 else f" ({head})"


def history(ctx: TrialContext, metrics) -> list:
    from sweeplab.report.build_study import curve_metrics

    fig = fs.learning_curves(ctx.rd.epochs, ctx.tid, curve_metrics(ctx.rd, metrics))
    return [FigureItem("trial_curves", "Training and validation curves of this trial.", fig)]


def confusion(ctx: TrialContext, metrics) -> list:
    items = []
    for h in ctx.class_heads():
        cm = _cm(ctx, h)
        names = ctx.class_names(h, len(cm))
        frame = cls.confusion_frame(cm, names)
        disp = frame.astype(int).astype(str).reset_index().rename(columns={"true": "true \\ predicted"})
        items.append(TableItem(f"confusion_{h}", f"Confusion matrix on the test set{_suffix(ctx, h)}: rows true class, "
                               "columns predicted.", disp, frame))
        items.append(FigureItem(f"confusion_{h}", f"Confusion matrix{_suffix(ctx, h)}, counts and normalised by true "
                                "class.", ft.confusion(cm, names)))
    return items


def f1(ctx: TrialContext, metrics) -> list:
    items = []
    for h in ctx.class_heads():
        cm = _cm(ctx, h)
        s = cls.scores_from_confusion(cm, class_names=ctx.class_names(h, len(cm)))
        avg = "positive class 1" if s.average == "binary" else "macro average over classes"
        disp = pd.DataFrame({"measure": ["accuracy", "precision", "recall", "F1"],
                             "value": [f"{v:.4f}" for v in (s.accuracy, s.precision, s.recall, s.f1)]})
        items.append(TableItem(f"scores_{h}", f"Test-set scores{_suffix(ctx, h)} ({avg}, n = {s.support}).",
                               disp, s.per_class.reset_index()))
        if s.average == "macro":
            pc = s.per_class.reset_index()
            pcd = pc.assign(**{c: pc[c].map(lambda v: f"{v:.4f}") for c in ("precision", "recall", "f1")})
            items.append(TableItem(f"scores_per_class_{h}", f"Per-class scores{_suffix(ctx, h)}.", pcd, pc))
    return items


def pr_curve(ctx: TrialContext, metrics) -> list:
    items = []
    for h in ctx.class_heads():
        proba = ctx.predictions.get(f"proba/{h}")
        if proba is None or (np.ndim(proba) == 2 and np.shape(proba)[1] > 2):
            continue
        y = cls.class_labels(ctx.predictions[f"y_true/{h}"])
        p, r, _, ap = cls.precision_recall_curve(y, proba)
        items.append(FigureItem(f"pr_curve_{h}", f"Precision-recall curve{_suffix(ctx, h)} from the test-set "
                                f"probabilities; average precision {ap:.3f}.", ft.pr_curve(p, r, ap, float((y == 1).mean()))))
    return items


def misclassified(ctx: TrialContext, metrics, n: int = 24) -> list:
    items = []
    for h in ctx.class_heads():
        p = ctx.predictions
        cm = _cm(ctx, h)
        names = ctx.class_names(h, len(cm))
        table = cls.misclassified(p[f"y_true/{h}"], p.get(f"y_pred/{h}"), p.get(f"proba/{h}"), p.get("index"), names, n)
        if table.empty:
            items.append(TextItem(f"No test example is misclassified{_suffix(ctx, h)}.", "note"))
            continue
        images = ctx.test_images(table["index"])
        if images is None:
            why = ctx._cache.get("data_error", "the dataset has no images")
            disp = table.assign(confidence=table["confidence"].map(lambda c: f"{c:.3f}"))
            items.append(TableItem(f"misclassified_{h}", f"Most confidently misclassified test examples{_suffix(ctx, h)} "
                                   f"(no gallery: {why}).", disp, table))
            continue
        items.append(FigureItem(f"misclassified_{h}", f"The {len(table)} most confidently misclassified test images"
                                f"{_suffix(ctx, h)}.", ft.misclassified_gallery(images, table)))
    return items


def gradients(ctx: TrialContext, metrics) -> list:
    flow = curves.gradient_flow(ctx.rd.epochs, ctx.tid)
    if not flow:
        return [TextItem("No gradient norms were recorded (set train.gradient_norms = true).", "note")]
    return [FigureItem("gradient_flow", "L2 norm of each layer's weight and bias gradients per epoch.", ft.gradient_flow(flow))]


def filters(ctx: TrialContext, metrics) -> list:
    k = model_view.first_layer_filters(ctx.params)
    if k is None:
        return [TextItem("The model has no convolution layer.", "note")]
    return [FigureItem("filters", f"The {len(k)} filters of the first convolution layer.", ft.filters(k[:64]))]


def feature_maps(ctx: TrialContext, metrics) -> list:
    images = ctx.test_images([0])
    if images is None:
        return [TextItem("Feature maps skipped: the test images are not available"
                         f" ({ctx._cache.get('data_error', 'no image data')}).", "note")]
    try:
        maps = model_view.feature_maps(ctx.config, ctx.params, images[0])
    except Exception as exc:
        return [TextItem(f"Feature maps skipped: {type(exc).__name__}: {str(exc)[:160]}", "note")]
    if not maps:
        return [TextItem("Feature maps skipped: the engine offers no feature-map function for this model.", "note")]
    return [FigureItem("feature_maps", "Feature maps of each convolution layer for the first test image.",
                       ft.feature_maps(maps, images[0]))]


def regions(ctx: TrialContext, metrics) -> list:
    d = ctx.data
    train = getattr(d, "train", None)
    x = getattr(train, "x", None)
    if x is None or np.ndim(x) != 2 or np.shape(x)[1] != 2:
        return [TextItem("Decision regions need 2-D input data"
                         + (f" ({ctx._cache['data_error']})" if "data_error" in ctx._cache else "") + ".", "note")]
    from sweeplab.inference import predict
    ys = getattr(train, "y", {})
    head = next(iter(ys)) if isinstance(ys, dict) and ys else None
    y = ys[head] if head else ys

    def fn(points):
        out = predict(ctx.config, ctx.params, points)
        return out[head] if isinstance(out, dict) else out

    xx, yy, proba = model_view.decision_regions(fn, x)
    return [FigureItem("decision_regions", "Predicted probability over the plane with the training points.",
                       ft.decision_regions(xx, yy, proba, np.asarray(x), y))]


def model(ctx: TrialContext, metrics) -> list:
    if not ctx.params:
        return [TextItem("No saved parameters for this trial.", "note")]
    t = model_view.parameter_summary(ctx.params)
    disp = pd.concat([t.assign(count=t["count"].map("{:,}".format)),
                      pd.DataFrame([{"layer": "total", "parameters": "", "count": f"{t.attrs['total']:,}"}])])
    return [TableItem("model_summary", "Model summary: trainable parameters per layer.", disp, t)]


def regression(ctx: TrialContext, metrics) -> list:
    """Predicted against true values for each regression head, with MAE and RMSE."""
    items = []
    for h in ctx.regression_heads():
        yt = np.asarray(ctx.predictions[f"y_true/{h}"], float).ravel()
        yp = np.asarray(ctx.predictions[f"y_pred/{h}"], float).ravel()
        err = yp - yt
        frame = pd.DataFrame({"measure": ["MAE", "RMSE", "mean residual", "n"],
                              "value": [np.mean(np.abs(err)), np.sqrt(np.mean(err ** 2)), np.mean(err), len(err)]})
        disp = frame.assign(value=[f"{v:.4f}" for v in frame["value"][:3]] + [str(len(err))])
        items.append(TableItem(f"regression_{h}", f"Test-set errors of the regression output {h!r}.", disp, frame))
        items.append(FigureItem(f"regression_{h}", f"Predicted against true values of {h!r} on the test set.",
                                ft.regression(yt, yp, title=f"{h}: predicted vs true (test set)")))
    return items
