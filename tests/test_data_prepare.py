"""DataSpec validation and every transform's documented property."""

import numpy as np
import pytest
from pydantic import ValidationError

import sweeplab.data.pipeline as prep_mod
from sweeplab.data import DataSpec, Dataset, clear_cache, load_raw, prepare


def P(seed=0, storage="float32", **kw):
    return prepare(DataSpec(**kw), seed=seed, storage=storage)


# --- DataSpec --------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(dataset="mnits"), r"unknown dataset 'mnits' \(did you mean 'mnist'\?\); accepted: mnist"),
    (dict(dataset="synthetic2d", params={"fn": "f1"}), "unknown parameter.*fn.*accepted: function"),
    (dict(dataset="synthetic2d", params={"function": "f4"}), "data.params.function: The 'function' parameter of synthetic2d must be one of 'f1', 'f2'.* Got 'f4' instead"),
    (dict(dataset="synthetic2d", params={"n_samples": "many"}), "data.params.n_samples: The 'n_samples' parameter of synthetic2d must be an integer. Got 'many' instead"),
    (dict(dataset="mnist", task="binary"), "data.task.positive: required"),
    (dict(dataset="mnist", task={"type": "binary", "positive": [10]}), r"\[10\] out of range.*0..9"),
    (dict(dataset="mnist", task="ranking"), "accepted: multiclass, binary, regression, multihead"),
    (dict(dataset="digits", task="multihead"), "only accepted for clocks"),
    (dict(dataset="mnist", test_size=0.2), "official test split"),
    (dict(dataset="mnist", validation_split=0.2, validation_size=100), "at most one"),
    (dict(dataset="mnist", normalize="minmax"), "unit"),
    (dict(dataset="mnist", extra=1), "extra"),
    (dict(dataset="synthetic2d", permute_pixels=True), "only accepted for image datasets"),
])
def test_dataspec_errors_name_field_value_and_accepted(kw, match):
    with pytest.raises((ValidationError, ValueError), match=match):
        DataSpec(**kw)


def test_dataspec_defaults_and_dotted_structure():
    s = DataSpec(dataset="MNIST")
    assert s.dataset == "mnist" and s.task.type is None and s.task_type() == "multiclass"
    assert s.normalize_mode() == "unit" and s.test_fraction() is None and s.stratify
    d = s.model_dump()
    d["augment"] = {"sigma": 2.0}
    d["params"] = {}
    s2 = DataSpec.model_validate(d)
    assert s2.augment.fraction == 0.1 and s2.augment.sigma == 2.0
    syn = DataSpec(dataset="synthetic2d", params={"n_samples": 100})
    assert syn.normalize_mode() == "none" and syn.test_fraction() == 0.2
    assert syn.task_type() == "binary"
    assert DataSpec(dataset="clocks").task_type() == "multihead"


# --- splits ------------------------------------------------------------------------------

def test_test_split_for_datasets_without_one_is_stratified():
    d = P(dataset="digits")
    raw = load_raw("digits")
    assert len(d.train) + len(d.test) == len(raw.y_train) and d.val is None
    assert len(d.test) == round(0.2 * len(raw.y_train))
    p_all = np.bincount(raw.y_train) / len(raw.y_train)
    assert np.abs(np.bincount(d.test.y["output"]) - p_all * len(d.test)).max() <= 1


def test_validation_split_takes_last_fraction_in_order():
    base = P(dataset="digits", normalize="none")
    v = P(dataset="digits", normalize="none", validation_split=0.25)
    n = len(base.train)
    split_at = int(n * 0.75)
    assert np.array_equal(v.train.x, base.train.x[:split_at])
    assert np.array_equal(v.val.x, base.train.x[split_at:])
    assert np.array_equal(v.val.y["output"], base.train.y["output"][split_at:])
    assert np.array_equal(v.test.x, base.test.x)


def test_validation_size_stratified():
    v = P(dataset="digits", validation_size=300)
    assert len(v.val) == 300
    assert np.bincount(v.val.y["output"]).min() >= 28 and np.bincount(v.val.y["output"]).max() <= 32


def test_subsample_stratified_seeded_nested():
    a = P(dataset="digits", subsample=500, validation_split=0.1, normalize="none")
    full = P(dataset="digits", validation_split=0.1, normalize="none")
    y_full = full.train.y["output"]
    expected = np.bincount(y_full) * 500 / len(y_full)
    got = np.bincount(a.train.y["output"])
    assert len(a.train) == 500 and np.abs(got - expected).max() < 1.0
    assert np.array_equal(a.val.x, full.val.x)  # validation unchanged by subsample
    b = P(dataset="digits", subsample=200, validation_split=0.1, normalize="none")
    rows = {r.tobytes() for r in a.train.x.reshape(500, -1)}
    assert all(r.tobytes() in rows for r in b.train.x.reshape(200, -1))  # nested
    c = P(seed=1, dataset="digits", subsample=500, validation_split=0.1, normalize="none")
    assert not np.array_equal(a.train.x, c.train.x)
    with pytest.raises(ValueError, match="data.subsample: 5000 exceeds"):
        P(dataset="digits", subsample=5000)


# --- targets ------------------------------------------------------------------------------

def test_binary_one_vs_rest_any_positive_set():
    m = P(dataset="digits", normalize="none")
    b = P(dataset="digits", normalize="none", task={"type": "binary", "positive": [0, 7]})
    y = b.train.y["output"]
    assert y.dtype == np.float32 and y.shape == (len(b.train),)
    assert np.array_equal(y, np.isin(m.train.y["output"], [0, 7]).astype(np.float32))
    assert b.heads["output"].kind == "binary" and b.heads["output"].class_names == ["not 0+7", "0+7"]
    assert m.train.y["output"].dtype == np.int32 and m.heads["output"].n_classes == 10


def test_regression_and_multihead_clocks(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPLAB_DATA", str(tmp_path))
    params = {"n_images": 60, "size": 32}
    mh = P(dataset="clocks", params=params)
    raw = load_raw("clocks", **params)
    assert set(mh.heads) == {"hour", "minute"}
    assert mh.heads["hour"].n_classes == 12 and mh.heads["minute"].kind == "regression"
    assert mh.train.y["hour"].dtype == np.int32 and mh.train.y["minute"].dtype == np.float32
    assert mh.input_shape == (32, 32, 1) and len(mh.train) + len(mh.test) == 60
    reg = P(dataset="clocks", params=params, task="regression")
    t = reg.train.y["output"]
    assert np.allclose(t, mh.train.y["hour"] + mh.train.y["minute"] / 60.0)
    assert set(np.round(t * 60).astype(int)) <= set(raw.y_train[:, 0] * 60 + raw.y_train[:, 1])


# --- pixel permutation -----------------------------------------------------------------

def test_permute_pixels_one_permutation_for_all_splits():
    plain = P(dataset="digits", normalize="none", validation_split=0.2)
    perm = P(dataset="digits", normalize="none", validation_split=0.2, permute_pixels=True)
    a = plain.train.x.reshape(len(plain.train), -1)
    b = perm.train.x.reshape(len(perm.train), -1)
    # recover the permutation from the training set: column j of b equals some column of a
    idx = np.array([np.nonzero((a == b[:, [j]]).all(0))[0][0] for j in range(a.shape[1])])
    assert not np.array_equal(idx, np.arange(64))
    for split in ("train", "val", "test"):
        x0 = getattr(plain, split).x.reshape(len(getattr(plain, split)), -1)
        x1 = getattr(perm, split).x.reshape(len(getattr(perm, split)), -1)
        assert np.array_equal(x1, x0[:, idx]), split
    again = P(dataset="digits", normalize="none", validation_split=0.2, permute_pixels=True)
    assert np.array_equal(again.test.x, perm.test.x)


# --- normalize / storage / leakage -------------------------------------------------------

def test_unit_and_uint8_storage_affine_agree():
    f = P(dataset="digits")
    u = P(dataset="digits", storage="uint8")
    assert u.train.x.dtype == np.uint8 and f.train.x.dtype == np.float32
    assert u.affine == (1 / 16, 0.0) and f.affine == (1.0, 0.0)
    assert np.allclose(u.train.x.astype(np.float32) * u.affine[0] + u.affine[1], f.train.x)
    assert f.train.x.max() == 1.0
    s = P(dataset="digits", storage="uint8", normalize="standardize")
    xm = s.train.x.astype(np.float32) * s.affine[0] + s.affine[1]
    assert abs(xm.mean()) < 1e-4 and abs(xm.std() - 1) < 1e-4


def test_standardize_uses_train_statistics_only(monkeypatch):
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 100, (200, 28, 28, 1), dtype=np.uint8)
    x_te = np.full((50, 28, 28, 1), 255, np.uint8)  # wildly different test data
    y_tr, y_te = np.arange(200) % 10, np.arange(50) % 10
    fake = Dataset("mnist", x_tr, y_tr, x_te, y_te, [str(i) for i in range(10)])
    monkeypatch.setattr(prep_mod, "load_raw", lambda *a, **k: fake)
    clear_cache()
    try:
        d = P(dataset="mnist", normalize="standardize", validation_split=0.5, storage="uint8")
        train_raw = x_tr[:100].astype(np.float64)
        assert np.isclose(d.affine[0], 1 / train_raw.std())
        assert np.isclose(d.affine[1], -train_raw.mean() / train_raw.std())
        f = P(dataset="mnist", normalize="standardize", validation_split=0.5)
        assert abs(float(f.train.x.mean())) < 1e-4 and abs(float(f.train.x.std()) - 1) < 1e-3
        assert float(f.test.x.mean()) > 2.5  # test far away: its values did not enter the stats
    finally:
        clear_cache()


def test_synthetic_standardize_per_feature_train_only():
    d = P(dataset="synthetic2d", params={"n_samples": 1000}, normalize="standardize")
    assert np.allclose(d.train.x.mean(0), 0, atol=1e-5) and np.allclose(d.train.x.std(0), 1, atol=1e-4)
    assert not np.allclose(d.test.x.mean(0), 0, atol=1e-5)


# --- augmentation --------------------------------------------------------------------------

@pytest.mark.parametrize("fraction, sigma", [(0.1, 0.1), (0.2, 0.05)])
def test_augment_size_sigma_and_labels(fraction, sigma):
    base = P(dataset="digits", normalize="none")
    aug = P(dataset="digits", normalize="none", augment={"fraction": fraction, "sigma": sigma})
    n = len(base.train)
    extra = int(round(fraction * n))
    assert len(aug.train) == n + extra and aug.train.x.dtype == np.float32
    assert np.array_equal(aug.train.x[:n], base.train.x)  # originals kept
    assert np.array_equal(aug.test.x, base.test.x) and len(aug.test) == len(base.test)
    copies = aug.train.x[n:]
    noise = copies - np.rint(copies)  # digits pixels are integers 0..16
    assert abs(float(noise.std()) - sigma) < 0.05 * sigma
    assert abs(float(noise.mean())) < 0.01 * sigma + 1e-3
    lookup = {}
    for xi, yi in zip(base.train.x.reshape(n, -1), base.train.y["output"]):
        lookup.setdefault(xi.tobytes(), set()).add(int(yi))
    src = np.rint(copies).reshape(extra, -1).astype(np.float32) + np.float32(0.0)  # no -0.0
    for xi, yi in zip(src, aug.train.y["output"][n:]):
        assert int(yi) in lookup[xi.tobytes()]


def test_augment_forces_float_storage_and_sigma_in_model_units():
    aug = P(dataset="digits", storage="uint8", augment={"fraction": 0.5, "sigma": 0.01})
    assert aug.train.x.dtype == np.float32 and aug.affine == (1.0, 0.0)
    n = len(P(dataset="digits").train)
    noise = aug.train.x[n:] * 16 - np.rint(aug.train.x[n:] * 16)
    assert abs(float(noise.std()) / 16 - 0.01) < 0.001


def test_deterministic_and_cached():
    s = DataSpec(dataset="synthetic2d", params={"function": "f3", "n_samples": 500},
                 augment={"fraction": 0.2, "sigma": 1.0}, validation_split=0.2)
    a = prepare(s, seed=5)
    assert prepare(s, seed=5) is a
    clear_cache()
    b = prepare(s, seed=5)
    assert b is not a and np.array_equal(a.train.x, b.train.x) and np.array_equal(a.val.x, b.val.x)
    c = prepare(s, seed=6)
    assert not np.array_equal(a.train.x, c.train.x)
    d = prepare(s.model_copy(update={"seed": 5}), seed=99)  # explicit data seed wins
    assert np.array_equal(d.train.x, a.train.x)
