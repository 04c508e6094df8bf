"""Classification analyses against scikit-learn on small cases."""

import numpy as np
import pytest
from sklearn import metrics as skm

from sweeplab.analysis import classification as cls


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    p[:3] = 0  # some class never predicted for a few rows, keeps zero_division honest
    return y, p


def test_confusion_matrix_matches_sklearn(multiclass):
    y, p = multiclass
    np.testing.assert_array_equal(cls.confusion_matrix(y, p), skm.confusion_matrix(y, p, labels=range(4)))
    onehot = np.eye(4)[y]
    np.testing.assert_array_equal(cls.confusion_matrix(onehot, p), skm.confusion_matrix(y, p))


def test_confusion_with_absent_class_keeps_size():
    cm = cls.confusion_matrix([0, 1, 1], [0, 1, 0], n_classes=3)
    np.testing.assert_array_equal(cm, skm.confusion_matrix([0, 1, 1], [0, 1, 0], labels=[0, 1, 2]))


def test_normalised_confusion_matches_sklearn(multiclass):
    y, p = multiclass
    cm = cls.confusion_matrix(y, p)
    for by in ("true", "pred", "all"):
        np.testing.assert_allclose(cls.normalize_confusion(cm, by), skm.confusion_matrix(y, p, normalize=by))


def test_confusion_frame_uses_class_names():
    f = cls.confusion_frame([[3, 1], [0, 2]], ["rest", "zero"])
    assert list(f.index) == ["rest", "zero"] and list(f.columns) == ["rest", "zero"]
    assert f.loc["rest", "zero"] == 1


def test_macro_scores_match_sklearn(multiclass):
    y, p = multiclass
    s = cls.precision_recall_f1(y, p)
    assert s.average == "macro"
    assert s.precision == pytest.approx(skm.precision_score(y, p, average="macro", zero_division=0))
    assert s.recall == pytest.approx(skm.recall_score(y, p, average="macro", zero_division=0))
    assert s.f1 == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
    assert s.accuracy == pytest.approx(skm.accuracy_score(y, p))
    np.testing.assert_allclose(s.per_class["f1"], skm.f1_score(y, p, average=None, zero_division=0))


def test_binary_scores_match_sklearn_on_imbalanced_data():
    rng = np.random.default_rng(2)
    y = (rng.random(1000) < 0.1).astype(int)  # one-vs-rest: 10 % positives
    proba = np.clip(y * 0.6 + rng.random(1000) * 0.5, 0, 1)
    s = cls.precision_recall_f1(y, proba)  # probabilities thresholded at 0.5
    pred = (proba >= 0.5).astype(int)
    assert s.average == "binary"
    assert s.precision == pytest.approx(skm.precision_score(y, pred))
    assert s.recall == pytest.approx(skm.recall_score(y, pred))
    assert s.f1 == pytest.approx(skm.f1_score(y, pred))


def test_scores_with_nothing_predicted_positive_are_zero():
    s = cls.precision_recall_f1([0, 1, 1, 0], [0, 0, 0, 0], average="binary")
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("ties", [False, True])
def test_precision_recall_curve_matches_sklearn(ties):
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.2).astype(int)
    scores = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    if ties:
        scores = np.round(scores, 1)
    p, r, t, ap = cls.precision_recall_curve(y, scores)
    sp, sr, st = skm.precision_recall_curve(y, scores)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(t, st)
    assert ap == pytest.approx(skm.average_precision_score(y, scores))
    # (n, 2) probabilities: the positive column is used
    p2, r2, _, _ = cls.precision_recall_curve(y, np.c_[1 - scores, scores])
    np.testing.assert_allclose(p2, sp)


def test_misclassified_are_wrong_and_most_confident_first():
    y = np.array([0, 1, 1, 0, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.95, 0.05], [0.3, 0.7], [0.6, 0.4], [0.8, 0.2]])
    pred = proba.argmax(1)
    index = np.array([10, 11, 12, 13, 14, 15])
    t = cls.misclassified(y, pred, proba, index, class_names=["rest", "zero"])
    assert list(t["index"]) == [12, 13, 14]  # confidence 0.95, 0.7, 0.6
    assert list(t["true"]) == ["zero", "rest", "zero"]
    assert list(t["predicted"]) == ["rest", "zero", "rest"]
    np.testing.assert_allclose(t["confidence"], [0.95, 0.7, 0.6])
    # positive-class scores give the same ranking
    t2 = cls.misclassified(y, pred, proba[:, 1], index)
    assert list(t2["index"]) == [12, 13, 14]
