"""Initializers: shapes, Keras statistics, fans of conv kernels, orthogonality."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeplab.vocab import (INITIALIZERS, InvalidParamError, UnknownNameError, compute_fans,
                            make_initializer)

KEY = jax.random.PRNGKey(0)
BIG = (400, 300)                       # 120k samples: stddev estimates within ~0.5%
TRUNC = 0.87962566103423978            # stddev of N(0,1) truncated to [-2, 2]


def sample(name, shape=BIG, **params):
    return np.asarray(make_initializer(name, params)(KEY, shape, jnp.float32))


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_shape_dtype_and_determinism(name):
    # Conv (HWIO) shapes are covered by the fan and orthogonal tests below.
    # Same shape as the statistics tests (shared compiles); QR of it is slow, though.
    shape = (40, 30) if name == "orthogonal" else BIG
    init = make_initializer(name)
    a = init(KEY, shape, jnp.float32)
    assert a.shape == shape and a.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(init(KEY, shape, jnp.float32)))
    assert np.all(np.isfinite(np.asarray(a)))


def test_constants():
    assert np.all(sample("zeros", (3, 2)) == 0)
    assert np.all(sample("ones", (3, 2)) == 1)
    assert np.all(sample("constant", (3, 2)) == 0)          # Keras default value=0
    assert np.all(sample("constant", (3, 2), value=0.3) == np.float32(0.3))
    np.testing.assert_array_equal(sample("identity", (3, 4), gain=2.0), 2 * np.eye(3, 4))


def test_random_normal_keras_defaults():
    a = sample("random_normal")
    assert abs(a.mean()) < 1e-3
    assert a.std() == pytest.approx(0.05, rel=0.01)          # JAX's normal() would be 0.01
    assert np.abs(a).max() > 0.15                             # not truncated


def test_random_uniform_keras_defaults():
    a = sample("random_uniform")
    assert a.min() >= -0.05 and a.max() <= 0.05
    assert a.min() < -0.0499 and a.max() > 0.0499             # symmetric, not JAX's [0, 0.01)
    assert a.std() == pytest.approx(0.1 / math.sqrt(12), rel=0.01)


def test_truncated_normal_keras_defaults():
    a = sample("truncated_normal")
    assert np.abs(a).max() <= 0.1 + 1e-7                      # 2 stddev
    assert a.std() == pytest.approx(0.05 * TRUNC, rel=0.01)


@pytest.mark.parametrize("name,var_fn", [
    ("glorot_normal", lambda fi, fo: 2 / (fi + fo)),
    ("he_normal", lambda fi, fo: 2 / fi),
    ("lecun_normal", lambda fi, fo: 1 / fi),
    ("variance_scaling", lambda fi, fo: 1 / fi),
])
def test_truncated_variance_scaling_stddev(name, var_fn):
    a = sample(name)
    target = math.sqrt(var_fn(*BIG))
    # The 0.8796 correction makes the *truncated* samples have the target stddev.
    assert a.std() == pytest.approx(target, rel=0.01)
    assert np.abs(a).max() <= 2 * target / TRUNC * (1 + 1e-6)
    assert np.abs(a).max() > 1.95 * target / TRUNC


@pytest.mark.parametrize("name,limit_fn", [
    ("glorot_uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("he_uniform", lambda fi, fo: math.sqrt(6 / fi)),
    ("lecun_uniform", lambda fi, fo: math.sqrt(3 / fi)),
])
@pytest.mark.parametrize("shape", [BIG, (3, 3, 32, 64)])
def test_uniform_limits_with_keras_fans(name, limit_fn, shape):
    fan_in, fan_out = compute_fans(shape)
    a = sample(name, shape)
    limit = limit_fn(fan_in, fan_out)
    assert np.abs(a).max() <= limit * (1 + 1e-6)
    assert np.abs(a).max() > 0.999 * limit
    assert a.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_conv_fans_are_hwio():
    assert compute_fans((3, 3, 16, 32)) == (144.0, 288.0)
    assert compute_fans((5, 7, 2, 4)) == (70.0, 140.0)
    assert compute_fans((10, 20)) == (10.0, 20.0)
    assert compute_fans((7,)) == (7.0, 7.0)


def test_variance_scaling_modes_and_distributions():
    a = sample("variance_scaling", scale=3.0, mode="fan_out", distribution="uniform")
    assert np.abs(a).max() == pytest.approx(math.sqrt(9 / 300), rel=1e-3)
    a = sample("variance_scaling", mode="fan_avg", distribution="untruncated_normal")
    assert a.std() == pytest.approx(math.sqrt(1 / 350), rel=0.01)
    assert np.abs(a).max() > 2.5 * math.sqrt(1 / 350)


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (3, 3, 4, 8)])
def test_orthogonal(shape):
    a = sample("orthogonal", shape, gain=1.5).reshape(-1, shape[-1])
    if a.shape[0] >= a.shape[1]:
        np.testing.assert_allclose(a.T @ a, 2.25 * np.eye(a.shape[1]), atol=1e-4)
    else:
        np.testing.assert_allclose(a @ a.T, 2.25 * np.eye(a.shape[0]), atol=1e-4)


def test_errors():
    with pytest.raises(UnknownNameError, match="accepted: zeros, ones"):
        make_initializer("glorot")
    with pytest.raises(InvalidParamError, match=r"^The 'mode' parameter of variance_scaling must be one of 'fan_in', 'fan_out', 'fan_avg'\. Got 'fan' instead\.$"):
        make_initializer("variance_scaling", {"mode": "fan"})
    with pytest.raises(InvalidParamError, match=r"^The 'stddev' parameter of random_normal must be >= 0\. Got -0.1 instead\.$"):
        make_initializer("random_normal", {"stddev": -0.1})
    with pytest.raises(InvalidParamError, match="minval must be < maxval"):
        make_initializer("random_uniform", {"minval": 1, "maxval": 0})
    with pytest.raises(ValueError, match="rank >= 2"):
        make_initializer("orthogonal")(KEY, (5,))
