"""Activations: values against reference formulas, gradients against finite differences."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from sweeplab.vocab import ACTIVATIONS, InvalidParamError, UnknownNameError, get_activation


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


# Points away from kinks (0 for relu-likes, +-3 for hard_sigmoid).
X = np.array([-3.7, -1.3, -0.4, 0.25, 0.9, 2.2, 3.6])
SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
    "softplus": lambda x: np.log(np.exp(x) + 1),
    "softsign": lambda x: x / (np.abs(x) + 1),
    "hard_sigmoid": lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6,
    "exponential": np.exp,
    "swish": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "lecun_tanh": lambda x: 1.7159 * np.tanh(2 * x / 3) + 0.01 * x,
}


def test_every_activation_has_a_reference():
    assert sorted(REFERENCE) == sorted(ACTIVATIONS.names())


H = 1e-6
C = np.random.default_rng(0).normal(size=X.shape)


@functools.lru_cache(maxsize=None)
def evaluate(name):
    """(value, gradient, central differences) of ``name`` at X, in one compile."""
    fn = ACTIVATIONS.get(name).obj
    # A random projection makes the softmax (non-elementwise) case a full check too.
    f = lambda x: jnp.sum(C * fn(x))
    steps = H * np.eye(len(X))

    @jax.jit
    def run(x):
        fd = (jax.vmap(f)(x[None] + steps) - jax.vmap(f)(x[None] - steps)) / (2 * H)
        return fn(x), jax.grad(f)(x), fd

    with jax.enable_x64(True):
        return tuple(np.asarray(a) for a in run(jnp.asarray(X)))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_value(name):
    np.testing.assert_allclose(evaluate(name)[0], REFERENCE[name](X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_gradient_matches_central_differences(name):
    _, grad, fd = evaluate(name)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_softmax_normalises_last_axis():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 5)))
    np.testing.assert_allclose(np.asarray(ACTIVATIONS.get("softmax").obj(x)).sum(-1), 1.0)


def test_aliases_and_params():
    assert ACTIVATIONS.get("silu") is ACTIVATIONS.get("swish")
    assert ACTIVATIONS.get("ReLU").name == "relu"
    lrelu = get_activation("leaky_relu", {"negative_slope": 0.1})
    np.testing.assert_allclose(np.asarray(lrelu(jnp.asarray(X))), np.where(X > 0, X, 0.1 * X))
    gelu_tanh = get_activation("gelu", {"approximate": True})
    ref = 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X**3)))
    np.testing.assert_allclose(np.asarray(gelu_tanh(jnp.asarray(X))), ref, rtol=1e-12)


def test_errors():
    with pytest.raises(UnknownNameError, match="accepted: linear, relu"):
        ACTIVATIONS.get("rleu")
    with pytest.raises(InvalidParamError, match=r"^The 'alpha' parameter of elu must be >= 0\. Got -1 instead\.$"):
        get_activation("elu", {"alpha": -1})
