"""Synthetic 2-D labelling functions against seed 002's formulas."""

import numpy as np
import pytest

from sweeplab.data import load
from sweeplab.data.synthetic import FUNCTIONS, f1, f2, f3, generate


def test_f1_triangle_points():
    pts = np.array([[0, 0], [-19.9, -39.9], [-20, 0], [0, -40], [20, 19.9], [20, 20],
                    [-30, 0], [45, -39], [39, -39]], float)
    assert f1(pts).tolist() == [1, 1, 0, 0, 1, 0, 0, 1, 1]


def test_f2_sinusoidal_points():
    # sgn(x0 + x1) sgn(x0) cos(|x| / 2pi) > 0
    r_flip = np.pi ** 2  # cos(r / 2pi) = 0 at r = pi^2 ~ 9.87
    pts = np.array([[1, 1], [5, 0], [-1, -1], [-5, 3], [12, 0], [-12, -0.1],
                    [0.5 * r_flip, 0.1], [3, -5]], float)
    expected = [1, 1, 1, 1, 0, 0, 1, 0]
    assert f2(pts).tolist() == expected
    # against the printed formula on random points
    x = np.random.default_rng(0).uniform(-50, 50, (1000, 2))
    s = np.sign(x.sum(1)) * np.sign(x[:, 0]) * np.cos(np.linalg.norm(x, axis=1) / (2 * np.pi))
    assert np.array_equal(f2(x), (s > 0).astype(int))


def test_f3_gaussian_points():
    pts = np.array([[0, 49.9], [0, 50], [5, 50 * np.exp(-0.5) - 0.01], [5, 50 * np.exp(-0.5) + 0.01],
                    [30, 1e-3], [30, -1e-3]], float)
    assert f3(pts).tolist() == [1, 0, 1, 0, 0, 1]


@pytest.mark.parametrize("fn", ["f1", "f2", "f3"])
def test_generated_labels_follow_formulas_in_box(fn):
    x, y = generate(fn, 3000, noise=0.0, seed=3)
    assert x.shape == (3000, 2) and x.dtype == np.float32
    assert np.abs(x).max() <= 50
    assert np.array_equal(y, {"f1": f1, "f2": f2, "f3": f3}[fn](x.astype(np.float64)))
    assert 0 < y.mean() < 1


def test_noise_moves_points_not_labels():
    x0, y0 = generate("f1", 500, noise=0.0, seed=1)
    x1, y1 = generate("f1", 500, noise=2.0, seed=1)
    assert np.array_equal(y0, y1)
    assert 1.8 < float(np.std(x1 - x0)) < 2.2


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_all_functions_deterministic_and_binary(fn):
    a = load("synthetic2d", function=fn, n_samples=400, seed=7)
    b = load("synthetic2d", function=fn, n_samples=400, seed=7)
    c = generate(fn, 400, seed=8)
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c[0])
    assert set(np.unique(a.y_train)) == {0, 1} and a.x_test is None


def test_toy_labels():
    x, y = generate("xor", 500, seed=0)
    assert np.array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(int))
    x, y = generate("circles", 500, seed=0)
    r = np.linalg.norm(x, axis=1)
    assert np.allclose(r[y == 1], 0.5, atol=1e-5) and np.allclose(r[y == 0], 1.0, atol=1e-5)
