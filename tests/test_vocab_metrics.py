"""Metrics: confusion-matrix metrics against scikit-learn; in-graph helpers under jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from sweeplab.vocab import (METRICS, UnknownNameError, confusion_matrix, metric_from_confusion,
                            metric_from_sums, predict_classes)

rng = np.random.default_rng(0)


def _sklearn(name, y, p, average):
    if name == "accuracy":
        return skm.accuracy_score(y, p)
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
    return fn(y, p, average=average, zero_division=0)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "f1"])
def test_against_sklearn(name, n_classes):
    y = rng.integers(0, n_classes, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, n_classes, 300))
    cm = np.asarray(confusion_matrix(jnp.asarray(y), jnp.asarray(p), n_classes))
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, p, labels=range(n_classes)))
    average = "binary" if n_classes == 2 else "macro"
    assert metric_from_confusion(name, cm) == pytest.approx(_sklearn(name, y, p, average), abs=1e-12)


@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_zero_division_is_zero_like_sklearn(name):
    # Class 3 never predicted and class 2 never present: undefined ratios count as 0.
    y = np.array([0, 1, 1, 0, 3, 3])
    p = np.array([0, 1, 2, 1, 0, 1])
    cm = np.asarray(confusion_matrix(jnp.asarray(y), jnp.asarray(p), 4))
    assert metric_from_confusion(name, cm) == pytest.approx(_sklearn(name, y, p, "macro"), abs=1e-12)
    y, p = np.array([0, 0, 1]), np.array([0, 0, 0])           # binary, no positive prediction
    cm = np.asarray(confusion_matrix(jnp.asarray(y), jnp.asarray(p), 2))
    assert metric_from_confusion(name, cm) == _sklearn(name, y, p, "binary")


def test_confusion_matrix_mask_under_jit_and_vmap():
    y = rng.integers(0, 3, (2, 50))
    p = rng.integers(0, 3, (2, 50))
    mask = (np.arange(50) < 37).astype(np.float32)             # padded last batch
    cms = jax.jit(jax.vmap(lambda a, b: confusion_matrix(a, b, 3, mask)))(jnp.asarray(y), jnp.asarray(p))
    assert cms.shape == (2, 3, 3) and cms.dtype == jnp.float32
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(cms[i]),
                                      skm.confusion_matrix(y[i, :37], p[i, :37], labels=range(3)))


def test_predict_classes():
    z = jnp.asarray([[-0.3], [0.2], [3.0], [-5.0]])
    np.testing.assert_array_equal(np.asarray(predict_classes(z, "sigmoid", 2)), [0, 1, 1, 0])
    # Threshold on the activated output: tanh(z) > 0.5 needs z > 0.549.
    np.testing.assert_array_equal(np.asarray(predict_classes(z, "tanh", 2)), [0, 0, 1, 0])
    zc = jnp.asarray(rng.normal(size=(6, 4)))
    out = predict_classes(zc, "softmax", 4)
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), np.argmax(np.asarray(zc), -1))


def test_regression_from_sums():
    e = rng.normal(size=(40, 2))
    n, sa, ss = e.size, np.abs(e).sum(), (e**2).sum()
    assert metric_from_sums("mae", n, sa, ss) == pytest.approx(np.abs(e).mean())
    assert metric_from_sums("mean_squared_error", n, sa, ss) == pytest.approx((e**2).mean())
    with pytest.raises(ValueError, match="classification"):
        metric_from_sums("f1", n, sa, ss)


def test_kinds_and_errors():
    assert {e.name: e.meta["kind"] for e in METRICS} == {
        "accuracy": "classification", "precision": "classification", "recall": "classification",
        "f1": "classification", "mae": "regression", "mse": "regression"}
    with pytest.raises(UnknownNameError, match="accepted: accuracy, precision, recall, f1, mae, mse"):
        metric_from_confusion("auc", np.eye(2))
    with pytest.raises(ValueError, match="regression"):
        metric_from_confusion("mse", np.eye(2))
