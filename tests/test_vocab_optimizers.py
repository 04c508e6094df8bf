"""Optimizers: first steps against Keras's update rules written out in NumPy.

The references below are transcribed from Keras 3's ``update_step`` methods
(keras/src/optimizers/*.py), branches included, independently of the
implementation under test. f(w) = 0.5 * sum(a * w^2), so g = a * w.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sweeplab.vocab import (OPTIMIZERS, InvalidParamError, UnknownNameError, make_optimizer,
                            per_trial_params, set_hyperparams)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# The tiny curvature makes g ~ 1e-7 on the last coordinate, where epsilon's
# placement (inside/outside the sqrt, before/after bias correction) shows.
A = np.array([1.0, 3.0, 2e-7])
W0 = np.array([1.0, -2.0, 0.5])
STEPS = 3


def ref_sgd(lr=0.01, momentum=0.0, nesterov=False):
    def step(w, g, s, t):
        if momentum == 0:
            return w - lr * g, s
        m = momentum * s.get("m", 0.0) - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
        return w, {"m": m}
    return step


def ref_rmsprop(lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def step(w, g, s, t):
        v = rho * s.get("v", 0.0) + (1 - rho) * g**2
        out = {"v": v}
        if centered:
            a = out["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
            inc = lr * g / np.sqrt(v - a**2 + epsilon)
        else:
            inc = lr * g / np.sqrt(v + epsilon)
        if momentum > 0:
            out["mom"] = momentum * s.get("mom", 0.0) + inc
            return w - out["mom"], out
        return w - inc, out
    return step


def ref_adagrad(lr=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    def step(w, g, s, t):
        acc = s.get("acc", initial_accumulator_value) + g**2
        return w - lr * g / np.sqrt(acc + epsilon), {"acc": acc}
    return step


def ref_adadelta(lr=0.001, rho=0.95, epsilon=1e-7):
    def step(w, g, s, t):
        ag = rho * s.get("ag", 0.0) + (1 - rho) * g**2
        ad = s.get("ad", 0.0)
        d = -np.sqrt(ad + epsilon) * g / np.sqrt(ag + epsilon)
        return w + lr * d, {"ag": ag, "ad": rho * ad + (1 - rho) * d**2}
    return step


def ref_adam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None):
    def step(w, g, s, t):
        if weight_decay is not None:      # base_optimizer._apply_weight_decay runs first
            w = w - w * weight_decay * lr
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
        v = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
        out = {"m": m, "v": v}
        if amsgrad:
            v = out["vh"] = np.maximum(s.get("vh", 0.0), v)
        return w - m * alpha / (np.sqrt(v) + epsilon), out
    return step


def ref_adamax(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def step(w, g, s, t):
        m = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
        u = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
        return w - lr * m / ((1 - beta_1**t) * (u + epsilon)), {"m": m, "u": u}
    return step


def ref_nadam(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def step(w, g, s, t):
        u_product = s.get("up", 1.0) * beta_1 * (1 - 0.5 * 0.96**t)   # _backend_update_step
        u_t = beta_1 * (1 - 0.5 * 0.96**t)
        u_t1 = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        m = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
        v = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
        m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        return w - m_hat * lr / (np.sqrt(v_hat) + epsilon), {"up": u_product, "m": m, "v": v}
    return step


def ref_ftrl(lr=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
             l1_regularization_strength=0.0, l2_regularization_strength=0.0,
             l2_shrinkage_regularization_strength=0.0, beta=0.0):
    def step(w, g, s, t):
        accum = s.get("accum", initial_accumulator_value + 0 * w)
        l2 = l2_regularization_strength + beta / (2 * lr)
        grad = g + 2 * l2_shrinkage_regularization_strength * w
        new_accum = accum + g**2
        p = learning_rate_power
        linear = s.get("lin", 0.0) + grad - (new_accum**-p - accum**-p) / lr * w
        quadratic = new_accum**-p / lr + 2 * l2
        l1 = l1_regularization_strength
        w = (np.clip(linear, -l1, l1) - linear) / quadratic
        return w, {"accum": new_accum, "lin": linear}
    return step


def ref_lion(lr=0.001, beta_1=0.9, beta_2=0.99):
    def step(w, g, s, t):
        m = s.get("m", 0.0)
        w = w - lr * np.sign(m * beta_1 + g * (1 - beta_1))
        return w, {"m": m * beta_2 + g * (1 - beta_2)}
    return step


REFS = {"sgd": ref_sgd, "rmsprop": ref_rmsprop, "adagrad": ref_adagrad,
        "adadelta": ref_adadelta, "adam": ref_adam,
        "adamw": functools.partial(ref_adam, weight_decay=0.004), "adamax": ref_adamax,
        "nadam": ref_nadam, "ftrl": ref_ftrl, "lion": ref_lion}

# (name, params): Keras defaults for every optimizer, plus the branches.
TABLE = [(name, {}) for name in REFS] + [
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "learning_rate": 0.1}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("adam", {"amsgrad": True, "learning_rate": 0.3, "beta_2": 0.5}),
    ("adamw", {"weight_decay": 0.1, "learning_rate": 0.05, "beta_1": 0.8}),
    ("ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.3, "l1_regularization_strength": 0.01,
              "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.03,
              "beta": 0.1, "initial_accumulator_value": 0.2}),
    ("lion", {"learning_rate": 0.1, "beta_1": 0.5}),
]


def reference_trajectory(name, params):
    kw = {("lr" if k == "learning_rate" else k): v for k, v in params.items()}
    step = REFS[name](**kw)
    w, s, out = W0.copy(), {}, []
    for t in range(1, STEPS + 1):
        w, s = step(w, A * w, s, t)
        out.append(w)
    return np.array(out)


def run(opt, w0, steps=STEPS, hyper=None):
    """``steps`` updates on the quadratic; returns the (steps, n) trajectory."""
    def body(w, s):
        u, s = opt.update(A.astype(w.dtype) * w, s, w)
        w = optax.apply_updates(w, u)
        return w, s

    s = opt.init(w0)
    if hyper:
        s = set_hyperparams(s, hyper)
    out = []
    w = w0
    for _ in range(steps):
        w, s = body(w, s)
        out.append(w)
    return jnp.stack(out)


def test_table_covers_every_optimizer():
    assert {name for name, _ in TABLE} == set(OPTIMIZERS.names())


@pytest.mark.parametrize("name,params", TABLE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TABLE)])
def test_first_steps_match_keras(name, params, x64):
    ref = reference_trajectory(name, params)
    got = np.asarray(jax.jit(lambda w: run(make_optimizer(name, params), w))(jnp.asarray(W0)))
    # Compare displacements, so a tiny step is checked relative to its own size.
    np.testing.assert_allclose(got - W0, ref - W0, rtol=1e-9, atol=1e-15)


def test_set_hyperparams_changes_the_step():
    opt = make_optimizer("sgd")                    # Keras default lr 0.01
    w = jnp.asarray(W0, jnp.float32)
    state = opt.init(w)
    u_default, _ = opt.update(w, state, w)
    u_set, _ = opt.update(w, set_hyperparams(state, {"learning_rate": 0.1}), w)
    np.testing.assert_allclose(np.asarray(u_default), -0.01 * W0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(u_set), -0.1 * W0, rtol=1e-6)
    # It also works through an optax.chain around the optimizer.
    chained = optax.chain(optax.clip(100.0), make_optimizer("adam"))
    cs = set_hyperparams(chained.init(w), {"learning_rate": 0.5})
    assert float(cs[1].hyperparams["learning_rate"]) == 0.5


@pytest.mark.parametrize("name", sorted(REFS))
def test_vmap_over_learning_rates_equals_separate_runs(name):
    lrs = [0.05, 0.2]
    w0 = jnp.asarray(W0, jnp.float32)
    opt = make_optimizer(name)
    one = lambda lr: run(opt, w0, hyper={"learning_rate": lr})
    batched = np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(lrs, jnp.float32)))
    single = jax.jit(one)
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(batched[i], np.asarray(single(lr)), rtol=1e-6, atol=1e-7)
        # float32 under vmap still matches Keras's rule to ~1e-6.
        np.testing.assert_allclose(batched[i], reference_trajectory(name, {"learning_rate": lr}),
                                   atol=2e-6)
    assert not np.allclose(batched[0], batched[1])


@pytest.mark.parametrize("name,hp,values", [("sgd", "momentum", (0.0, 0.9)),
                                            ("adam", "beta_1", (0.5, 0.95)),
                                            ("rmsprop", "epsilon", (1e-7, 1.0))])
def test_vmap_over_other_hyperparams(name, hp, values):
    w0 = jnp.asarray(W0, jnp.float32)
    opt = make_optimizer(name, {"learning_rate": 0.1})
    batched = jax.jit(jax.vmap(lambda v: run(opt, w0, hyper={hp: v})))(jnp.asarray(values))
    for i, v in enumerate(values):
        ref = reference_trajectory(name, {"learning_rate": 0.1, hp: v})
        np.testing.assert_allclose(np.asarray(batched[i]), ref, atol=2e-6)


def test_per_trial_params():
    assert per_trial_params("adam") == ["learning_rate", "beta_1", "beta_2", "epsilon"]
    assert per_trial_params("sgd") == ["learning_rate", "momentum"]
    for entry in OPTIMIZERS:
        assert "learning_rate" in per_trial_params(entry.name)
        # Booleans are structural, never per trial.
        assert not any(isinstance(p.default, bool) and p.per_trial for p in entry.params)
    state = make_optimizer("adam").init(jnp.zeros(2))
    assert sorted(state.hyperparams) == sorted(per_trial_params("adam"))


def test_errors():
    with pytest.raises(InvalidParamError, match=r"^The 'learning_rate' parameter of adam must be > 0\. Got -1 instead\.$"):
        make_optimizer("adam", {"learning_rate": -1})
    with pytest.raises(InvalidParamError, match=r"^The 'momentum' parameter of sgd must be in the range \[0, 1\]\. Got 1.5 instead\.$"):
        make_optimizer("sgd", {"momentum": 1.5})
    with pytest.raises(InvalidParamError, match=r"^The 'nesterov' parameter of sgd must be a boolean"):
        make_optimizer("sgd", {"nesterov": "yes"})
    with pytest.raises(InvalidParamError) as e:
        make_optimizer("adam", {"lr": 0.1})
    assert "adam" in str(e.value) and "'lr'" in str(e.value) and "learning_rate, beta_1" in str(e.value)
    with pytest.raises(UnknownNameError, match="did you mean 'rmsprop'.*accepted: sgd, rmsprop, adagrad"):
        make_optimizer("rmsprp")
    state = make_optimizer("adam").init(jnp.zeros(2))
    with pytest.raises(ValueError, match="amsgrad"):
        set_hyperparams(state, {"amsgrad": True})
    with pytest.raises(ValueError, match="needs params"):
        opt = make_optimizer("adamw")
        opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))


def test_ftrl_update_has_no_elementwise_power():
    # XLA's CPU backend runs `power` with a traced (per-trial) exponent as a scalar libm call
    # per element (5x slower than exp/log, the FTRL slowdown of issue 10): none in the update.
    opt = make_optimizer("ftrl")
    w = jnp.ones((64, 32), jnp.float32)
    hlo = jax.jit(lambda w, s: opt.update(w, s, w)).lower(w, opt.init(w)).compile().as_text()
    assert " power(" not in hlo


def test_ftrl_power_zero_with_zero_accumulator_matches_keras(x64):
    # x ** 0 == 1 at x == 0 (the log form alone would give nan there).
    params = {"learning_rate_power": 0.0, "initial_accumulator_value": 0.0, "learning_rate": 0.1}
    ref = reference_trajectory("ftrl", params)
    got = np.asarray(run(make_optimizer("ftrl", params), jnp.asarray(W0)))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got - W0, ref - W0, rtol=1e-9, atol=1e-15)
