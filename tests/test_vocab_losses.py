"""Losses: values against Keras's formulas, gradients against finite differences."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeplab.vocab import LOSSES, InvalidParamError, UnknownNameError, get_loss


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


EPS = 1e-7
rng = np.random.default_rng(0)
Z1 = np.array([[-2.3], [-0.4], [0.7], [1.9], [4.5]])            # binary head, 1 unit
YB = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
ZC = rng.normal(size=(5, 3)) * 1.5                               # 3-class head
YS = np.array([0, 2, 1, 1, 0])
YC = np.eye(3)[YS]
ZR = rng.normal(size=(5, 2)) * 1.5                               # regression, 2 outputs
YR = ZR + np.array([[0.3, -2.0], [1.5, 0.2], [-0.7, 0.9], [2.5, -0.1], [0.05, -1.2]])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def hard_sigmoid(x):
    return np.clip((x + 3) / 6, 0, 1)


def bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def cce_probs(p, y):
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(p)).sum(-1)


def huber(e, d=1.0):
    a = np.abs(e)
    return np.where(a <= d, 0.5 * e**2, d * a - 0.5 * d**2).mean(-1)


# (loss, activation, z, y, reference per-example loss)
CASES = [
    ("binary_crossentropy", "sigmoid", Z1, YB, bce(sigmoid(Z1), YB[:, None])),
    # Not sigmoid: Keras's probability form, clipped (z = 4.5 saturates to 1).
    ("binary_crossentropy", "hard_sigmoid", Z1, YB,
     bce(np.clip(hard_sigmoid(Z1), EPS, 1 - EPS), YB[:, None])),
    ("categorical_crossentropy", "softmax", ZC, YC, -(YC * np.log(softmax(ZC))).sum(-1)),
    ("categorical_crossentropy", "sigmoid", ZC, YC, cce_probs(sigmoid(ZC), YC)),
    ("sparse_categorical_crossentropy", "softmax", ZC, YS, -np.log(softmax(ZC))[np.arange(5), YS]),
    ("sparse_categorical_crossentropy", "sigmoid", ZC, YS, cce_probs(sigmoid(ZC), YC)),
    ("mse", "linear", ZR, YR, ((YR - ZR) ** 2).mean(-1)),
    ("mse", "tanh", ZR, YR, ((YR - np.tanh(ZR)) ** 2).mean(-1)),
    ("mae", "linear", ZR, YR, np.abs(YR - ZR).mean(-1)),
    ("huber", "linear", ZR, YR, huber(ZR - YR)),
]
IDS = [f"{c[0]}-{c[1]}" for c in CASES]


def test_every_loss_is_covered():
    assert {c[0] for c in CASES} == set(LOSSES.names())


H = 1e-6


@functools.lru_cache(maxsize=None)
def evaluate(i):
    """(per-example loss, gradient, central differences) of CASES[i], in one compile."""
    name, act, z, y, _ = CASES[i]
    loss = LOSSES.get(name).obj
    f = lambda zz: jnp.sum(loss(zz, jnp.asarray(y), act))
    steps = H * np.eye(z.size).reshape((z.size,) + z.shape)

    @jax.jit
    def run(zz):
        fd = (jax.vmap(f)(zz[None] + steps) - jax.vmap(f)(zz[None] - steps)) / (2 * H)
        return loss(zz, jnp.asarray(y), act), jax.grad(f)(zz), fd

    with jax.enable_x64(True):
        return tuple(np.asarray(a) for a in run(jnp.asarray(z)))


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_value(i):
    out = evaluate(i)[0]
    assert out.shape == (CASES[i][2].shape[0],)
    np.testing.assert_allclose(out, CASES[i][4], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_gradient_matches_central_differences(i):
    _, grad, fd = evaluate(i)
    np.testing.assert_allclose(grad.ravel(), fd, rtol=1e-6, atol=1e-8)


def test_target_shapes_are_interchangeable():
    bce_ = LOSSES.get("binary_crossentropy").obj
    z = jnp.asarray(Z1)
    np.testing.assert_allclose(bce_(z, jnp.asarray(YB), "sigmoid"),
                               bce_(z, jnp.asarray(YB[:, None]), "sigmoid"))
    mse_ = LOSSES.get("mse").obj
    z = jnp.asarray(ZR[:, :1])
    np.testing.assert_allclose(mse_(z, jnp.asarray(YR[:, 0]), "linear"),
                               mse_(z, jnp.asarray(YR[:, :1]), "linear"))


def test_logit_form_is_stable():
    z = jnp.asarray([[-200.0], [200.0]])
    out = LOSSES.get("binary_crossentropy").obj(z, jnp.asarray([1.0, 0.0]), "sigmoid")
    np.testing.assert_allclose(np.asarray(out), [200.0, 200.0])
    zc = jnp.asarray([[1000.0, 0.0, -1000.0]])
    out = LOSSES.get("sparse_categorical_crossentropy").obj(zc, jnp.asarray([2]), "softmax")
    np.testing.assert_allclose(np.asarray(out), [2000.0])
    g = jax.grad(lambda zz: LOSSES.get("categorical_crossentropy").obj(
        zz, jnp.asarray([[0.0, 0.0, 1.0]]), "softmax").sum())(zc)
    assert np.all(np.isfinite(np.asarray(g)))


def test_meta_aliases_and_params():
    assert {e.name: e.meta["target"] for e in LOSSES} == {
        "binary_crossentropy": "binary", "categorical_crossentropy": "onehot",
        "sparse_categorical_crossentropy": "sparse", "mse": "regression",
        "mae": "regression", "huber": "regression"}
    assert LOSSES.canonical("mean_squared_error") == "mse"
    assert LOSSES.canonical("MSE") == "mse"
    assert LOSSES.canonical("mean_absolute_error") == "mae"
    assert LOSSES.canonical("huber_loss") == "huber"
    h2 = get_loss("huber", {"delta": 2.0})
    np.testing.assert_allclose(np.asarray(h2(jnp.asarray(ZR), jnp.asarray(YR), "linear")),
                               huber(ZR - YR, 2.0))


def test_errors():
    with pytest.raises(UnknownNameError, match="accepted: binary_crossentropy"):
        LOSSES.get("cross_entropy")
    with pytest.raises(InvalidParamError, match=r"^The 'delta' parameter of huber must be > 0\. Got 0 instead\.$"):
        get_loss("huber", {"delta": 0})
