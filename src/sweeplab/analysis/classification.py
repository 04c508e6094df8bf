"""Classification analyses of one trial's test-set predictions.

Everything here works on plain arrays (``y_true``, ``y_pred``, ``proba``) as
the store saves them (``y_true/<head>``, ``y_pred/<head>``, ``proba/<head>``),
so each function can be checked against scikit-learn on a small case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def class_labels(y) -> np.ndarray:
    """Integer class labels from labels, one-hot rows or positive-class scores."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    if y.dtype.kind == "f" and np.any((y > 0) & (y < 1)):
        return (y >= 0.5).astype(int)
    return y.astype(int)


_labels = class_labels  # the old private name


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are true classes, columns predicted.

    Args:
        y_true: true labels (integers, or one-hot rows).
        y_pred: predicted labels (integers, one-hot/probability rows, or
            positive-class probabilities thresholded at 0.5).
        n_classes: number of classes; by default the largest label + 1.

    Returns:
        An ``(n_classes, n_classes)`` integer array.
    """
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: y_true has {t.size} rows, y_pred has {p.size}")
    k = int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    k = max(k, n_classes or 0)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def normalize_confusion(cm, by: str = "true") -> np.ndarray:
    """Confusion matrix as fractions: each row (``by="true"``, recall view),
    column (``"pred"``, precision view) or the whole (``"all"``) sums to 1."""
    cm = np.asarray(cm, dtype=float)
    axis = {"true": 1, "pred": 0, "all": None}[by]
    total = cm.sum(axis=axis, keepdims=axis is not None)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, cm / np.where(total == 0, 1, total), 0.0)
    return out


def confusion_frame(cm, class_names=None, normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix as a labelled DataFrame (index ``true: name``, columns ``pred: name``)."""
    cm = np.asarray(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    data = normalize_confusion(cm, normalize) if normalize else cm
    return pd.DataFrame(
        data,
        index=pd.Index([str(n) for n in names], name="true"),
        columns=pd.Index([str(n) for n in names], name="predicted"),
    )


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one head.

    ``average`` is ``"binary"`` (positive class 1) or ``"macro"`` (unweighted
    mean over classes). Per-class values are kept in ``per_class``.
    """

    precision: float
    recall: float
    f1: float
    accuracy: float
    support: int
    average: str
    per_class: pd.DataFrame


def scores_from_confusion(cm, average: str | None = None, class_names=None) -> Scores:
    """Precision, recall, F1 from a confusion matrix (rows true, columns predicted).

    A class never predicted has precision 0, a class never present has recall
    0 (scikit-learn's ``zero_division=0``).

    Args:
        cm: confusion matrix.
        average: ``"binary"`` (two classes, positive class 1), ``"macro"``;
            default binary for two classes, macro otherwise.
        class_names: names for the per-class table.
    """
    cm = np.asarray(cm, dtype=float)
    k = len(cm)
    average = average or ("binary" if k == 2 else "macro")
    tp = np.diag(cm)
    pred, true = cm.sum(axis=0), cm.sum(axis=1)
    prec = np.divide(tp, pred, out=np.zeros(k), where=pred > 0)
    rec = np.divide(tp, true, out=np.zeros(k), where=true > 0)
    denom = prec + rec
    f1 = np.divide(2 * prec * rec, denom, out=np.zeros(k), where=denom > 0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    per_class = pd.DataFrame(
        {"precision": prec, "recall": rec, "f1": f1, "support": true.astype(int)},
        index=pd.Index([str(n) for n in names], name="class"),
    )
    if average == "binary":
        if k != 2:
            raise ValueError(f"average='binary' needs 2 classes, got {k}")
        p, r, f = prec[1], rec[1], f1[1]
    elif average == "macro":
        p, r, f = prec.mean(), rec.mean(), f1.mean()
    else:
        raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")
    acc = float(tp.sum() / cm.sum()) if cm.sum() else float("nan")
    return Scores(float(p), float(r), float(f), acc, int(cm.sum()), average, per_class)


def precision_recall_f1(y_true, y_pred, average: str | None = None, class_names=None) -> Scores:
    """Precision, recall and F1 of predictions (see :func:`scores_from_confusion`)."""
    n = len(class_names) if class_names is not None else None
    return scores_from_confusion(confusion_matrix(y_true, y_pred, n), average, class_names)


def positive_scores(proba) -> np.ndarray:
    """Score of the positive class from a binary head's probabilities
    (shape ``(n,)``, ``(n, 1)`` or ``(n, 2)``)."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 2:
        return proba[:, 1]
    return proba.reshape(-1)


def precision_recall_curve(y_true, scores):
    """Precision-recall curve of a binary classifier, thresholding ``scores``.

    Follows scikit-learn's (>= 1.3) definition: one point per distinct score
    used as threshold (predict positive when ``score >= threshold``), in
    increasing threshold order, then the point (recall 0, precision 1).

    Returns:
        ``(precision, recall, thresholds, average_precision)`` where average
        precision is ``sum_n (R_n - R_{n-1}) P_n``.
    """
    y = _labels(y_true)
    s = positive_scores(scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    ends = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[ends].astype(float)
    fps = (1 + ends - tps).astype(float)
    thresholds = s[ends]
    total_pos = tps[-1] if tps.size else 0.0
    precision = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=(tps + fps) > 0)
    recall = tps / total_pos if total_pos > 0 else np.ones_like(tps)
    # Reverse so recall decreases, then append the (recall 0, precision 1) end point.
    precision = np.r_[precision[::-1], 1.0]
    recall = np.r_[recall[::-1], 0.0]
    thresholds = thresholds[::-1]
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    return precision, recall, thresholds, ap


def misclassified(y_true, y_pred, proba=None, index=None, class_names=None, n: int = 25) -> pd.DataFrame:
    """The worst misclassified test examples: wrong and most confident first.

    Args:
        y_true, y_pred: true and predicted labels (as for :func:`confusion_matrix`).
        proba: class probabilities ``(n, K)`` or positive-class scores ``(n,)``;
            confidence is the probability given to the predicted class.
        index: position of each row in the test split (the store's ``index``);
            defaults to the row number.
        class_names: names for the ``true``/``predicted`` columns.
        n: number of rows to return.

    Returns:
        DataFrame with columns ``row, index, true, predicted, confidence``.
    """
    t, p = _labels(y_true), _labels(y_pred if y_pred is not None else proba)
    rows = np.flatnonzero(t != p)
    if proba is not None:
        pr = np.asarray(proba, dtype=float)
        if pr.ndim == 2 and pr.shape[1] > 1:
            conf = pr[np.arange(len(p)), p]
        else:
            s = pr.reshape(-1)
            conf = np.where(p == 1, s, 1 - s)
    else:
        conf = np.full(t.shape, np.nan)
    rows = rows[np.argsort(-np.nan_to_num(conf[rows], nan=0.0), kind="mergesort")][:n]
    idx = np.arange(len(t)) if index is None else np.asarray(index).reshape(-1)
    name = (lambda i: str(class_names[i])) if class_names is not None else (lambda i: str(i))
    return pd.DataFrame({
        "row": rows,
        "index": idx[rows].astype(int),
        "true": [name(i) for i in t[rows]],
        "predicted": [name(i) for i in p[rows]],
        "confidence": conf[rows],
    })
