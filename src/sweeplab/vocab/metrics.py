"""Epoch metrics: classification from a confusion matrix, regression from sums.

The engine never computes a metric per batch. Under ``jit``/``vmap`` it
accumulates, per trial, either a confusion matrix (rows = true class,
columns = predicted class) with :func:`predict_classes` and
:func:`confusion_matrix`, or the sums ``n, sum|e|, sum e^2``; at the end of
an epoch, on the host, :func:`metric_from_confusion` or
:func:`metric_from_sums` turns those into numbers. That makes epoch metrics
exact (not averages of batch metrics) and the padded last batch harmless.

Binary (2x2) precision/recall/f1 are those of class 1; with more classes they
are macro averages. An undefined ratio counts as 0, like scikit-learn's
``zero_division=0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sweeplab.vocab.registry import Registry, UnknownNameError

if TYPE_CHECKING:  # JAX is imported where it is used: ranking by a metric's direction must not load it
    import jax

METRICS = Registry("metric")

METRICS.register("accuracy", "fraction of examples whose predicted class is the true class",
                 aliases=("acc",), kind="classification", direction="max")(None)
METRICS.register("precision", "TP / (TP + FP); class 1 if binary, else macro average",
                 kind="classification", direction="max")(None)
METRICS.register("recall", "TP / (TP + FN); class 1 if binary, else macro average",
                 kind="classification", direction="max")(None)
METRICS.register("f1", "2 P R / (P + R); class 1 if binary, else macro average",
                 aliases=("f1_score",), kind="classification", direction="max")(None)
METRICS.register("mae", "mean absolute error over examples and outputs",
                 aliases=("mean_absolute_error",), kind="regression", direction="min")(None)
METRICS.register("mse", "mean squared error over examples and outputs",
                 aliases=("mean_squared_error",), kind="regression", direction="min")(None)

#: Splits a recorded metric name may start with (``val_accuracy``, ``test_mae``).
SPLITS = ("train", "val", "test", "cv")
#: Costs recorded beside the metrics; lower is better.
COSTS = ("time_per_epoch", "seconds_per_epoch", "compile_seconds")


def direction(name: str) -> str:
    """``"max"`` or ``"min"``: whether a recorded metric is better high or low.

    The one rule for every ranking and for early stopping's ``mode="auto"``:
    the ``direction`` declared on the metric's :data:`METRICS` entry; every
    loss is ``"min"``, and so are the costs in :data:`COSTS`.

    Args:
        name: ``[<split>_][<head>_]<loss|metric>`` as recorded or shown
            (``val_accuracy``, ``test_hour_mae``, ``loss``, ``val_f1x_loss``).

    Raises:
        UnknownNameError: when the name ends in neither a loss nor a metric.
    """
    if name in COSTS:
        return "min"
    split, _, rest = name.partition("_")
    base = rest if split in SPLITS and rest else name
    # The metric is the last part; a head name before it may itself contain '_' or a metric's name.
    for i in [-1] + [i for i, c in enumerate(base) if c == "_"]:
        tail = base[i + 1:]
        if tail == "loss":
            return "min"
        if tail in METRICS:
            return METRICS.get(tail).meta["direction"]
    raise UnknownNameError("metric", name, ["loss", *METRICS.names(), *COSTS])


def lower_is_better(name: str) -> bool:
    """True when :func:`direction` of ``name`` is ``"min"`` (losses, errors, times)."""
    return direction(name) == "min"


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (precision, recall, f1) from a confusion matrix, 0 where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, actual)
    # F1 = 2TP / (2TP + FP + FN): same as sklearn, and 0 (not nan) when P+R = 0.
    f1 = _safe_div(2.0 * tp, predicted + actual)
    return precision, recall, f1


def metric_from_confusion(name: str, cm: np.ndarray) -> float:
    """A classification metric from a (C, C) confusion matrix (rows = true).

    Args:
        name: accuracy, precision, recall or f1 (or an alias).
        cm: counts; a 2x2 matrix is treated as binary (scores of class 1),
            larger ones are macro-averaged over all C classes.
    """
    name = METRICS.canonical(name)
    if METRICS.get(name).meta["kind"] != "classification":
        raise ValueError(f"{name} is a regression metric; use metric_from_sums")
    cm = np.asarray(cm, dtype=np.float64)
    if name == "accuracy":
        total = cm.sum()
        return float(np.trace(cm) / total) if total > 0 else 0.0
    scores = dict(zip(("precision", "recall", "f1"), per_class_scores(cm)))[name]
    if cm.shape == (2, 2):
        return float(scores[1])
    return float(scores.mean())


def metric_from_sums(name: str, n: float, sum_abs: float, sum_sq: float) -> float:
    """A regression metric from the count of values and sums of |error| and error^2.

    ``n`` counts scalar values (examples x outputs), matching Keras's mean
    over both axes.
    """
    name = METRICS.canonical(name)
    if METRICS.get(name).meta["kind"] != "regression":
        raise ValueError(f"{name} is a classification metric; use metric_from_confusion")
    if n <= 0:
        return float("nan")
    return float((sum_abs if name == "mae" else sum_sq) / n)


def predict_classes(z: jax.Array, activation: str, n_classes: int) -> jax.Array:
    """Predicted class ids (int32, shape (batch,)) from pre-activation outputs.

    Binary (``n_classes == 2`` with one output unit): probability > 0.5, i.e.
    the activated output, like Keras's ``binary_accuracy`` threshold. With one
    unit per class: argmax (the activation is monotone per row for softmax, so
    argmax of ``z`` would do, but other activations need not be).
    """
    import jax.numpy as jnp

    from sweeplab.vocab.activations import ACTIVATIONS

    p = ACTIVATIONS.get(activation).obj(z)
    if z.ndim == 1 or z.shape[-1] == 1:
        return (p.reshape(p.shape[0]) > 0.5).astype(jnp.int32)
    return jnp.argmax(p, axis=-1).astype(jnp.int32)


def confusion_matrix(y_true: jax.Array, y_pred: jax.Array, n_classes: int,
                     mask: jax.Array | None = None) -> jax.Array:
    """(C, C) float32 counts, rows = true class, columns = predicted class.

    Uses ``one_hot(true)^T @ (mask * one_hot(pred))``: one small matmul, which
    is fast under ``jit`` and ``vmap`` where a scatter-add would serialise.

    Args:
        y_true, y_pred: int arrays of shape (batch,).
        n_classes: C (2 for binary).
        mask: optional (batch,) weight, 0 for padded rows.
    """
    import jax
    import jax.numpy as jnp

    t = jax.nn.one_hot(jnp.asarray(y_true).reshape(-1), n_classes, dtype=jnp.float32)
    p = jax.nn.one_hot(jnp.asarray(y_pred).reshape(-1), n_classes, dtype=jnp.float32)
    if mask is not None:
        p = p * jnp.asarray(mask, jnp.float32).reshape(-1, 1)
    # HIGHEST: keep counts exact on backends whose default matmul is bf16/tf32.
    return jnp.matmul(t.T, p, precision=jax.lax.Precision.HIGHEST)
