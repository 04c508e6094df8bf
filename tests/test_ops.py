"""Tests for sweeplab.models.ops: fast CPU conv/pool paths vs XLA references."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from sweeplab.models import ops

FAST_CONV = ["shifted", "patches"]


def _rand(seed, shape, scale=1.0):
    return jnp.asarray(
        np.random.default_rng(seed).normal(size=shape).astype(np.float32) * scale
    )


def _ref_conv(x, w, strides, padding):
    return lax.conv_general_dilated(
        x, w, window_strides=strides, padding=padding.upper(),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


# (N, H, W, Cin), (kh, kw, Cout), strides, padding
CONV_CASES = [
    ((2, 7, 7, 1), (1, 1, 4), (1, 1), "valid"),
    ((2, 9, 8, 3), (3, 3, 5), (1, 1), "valid"),
    ((2, 9, 8, 3), (3, 3, 5), (1, 1), "same"),
    ((2, 11, 10, 2), (5, 5, 3), (1, 1), "same"),
    ((1, 11, 9, 2), (5, 5, 4), (2, 2), "valid"),
    ((2, 8, 8, 3), (2, 2, 4), (1, 1), "same"),   # even kernel: pad bottom/right
    ((2, 9, 7, 3), (2, 2, 4), (2, 2), "same"),
    ((2, 13, 11, 4), (3, 3, 6), (2, 2), "same"),  # odd sizes, stride 2
    ((2, 10, 12, 3), (3, 2, 2), (2, 1), "same"),  # non-square kernel/stride
    ((3, 28, 28, 1), (3, 3, 28), (1, 1), "valid"),  # seed CNN first layer
]


@pytest.mark.parametrize("xs,k,strides,padding", CONV_CASES)
def test_conv_forward_matches_xla(xs, k, strides, padding):
    x = _rand(0, xs)
    w = _rand(1, (k[0], k[1], xs[-1], k[2]), 0.5)
    b = _rand(2, (k[2],))

    @jax.jit
    def all_impls(x, w, b):
        impls = FAST_CONV + (["auto"] if xs[-1] == 1 else [])
        return {i: ops.conv2d(x, w, b, strides=strides, padding=padding, impl=i)
                for i in impls}

    ref = _ref_conv(x, w, strides, padding) + b.reshape(1, 1, 1, -1)
    assert ref.shape[1:3] == ops.conv_output_shape(xs[1:3], k[:2], strides, padding)
    for impl, got in all_impls(x, w, b).items():
        assert got.shape == ref.shape, impl
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=impl)


@pytest.mark.parametrize("xs,k,strides,padding", [CONV_CASES[i] for i in (3, 6, 7, 9)])
def test_conv_grads_match_xla(xs, k, strides, padding):
    x = _rand(3, xs)
    w = _rand(4, (k[0], k[1], xs[-1], k[2]), 0.5)
    b = _rand(5, (k[2],))
    # A non-uniform cotangent, so mis-placed gradients cannot cancel.
    ct = _rand(6, _ref_conv(x, w, strides, padding).shape)

    def loss(x, w, b, impl):
        y = ops.conv2d(x, w, b, strides=strides, padding=padding, impl=impl)
        return jnp.sum(jnp.tanh(y) * ct)

    @jax.jit
    def grads(x, w, b):
        return {i: jax.grad(loss, argnums=(0, 1, 2))(x, w, b, i)
                for i in ["xla"] + FAST_CONV}

    g = grads(x, w, b)
    for impl in FAST_CONV:
        for name, got, ref in zip("xwb", g[impl], g["xla"]):
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{impl} d/d{name}")


def test_conv_vmap_over_trials_matches_loop():
    T = 3
    x = _rand(7, (2, 9, 9, 2))
    xT = _rand(8, (T, 2, 9, 9, 2))
    wT = _rand(9, (T, 3, 3, 2, 4), 0.5)
    bT = _rand(10, (T, 4))

    def f(x, w, b, impl):
        return ops.conv2d(x, w, b, strides=2, padding="same", impl=impl)

    def gl(x, w, b, impl):
        return jax.grad(lambda w, b: jnp.sum(f(x, w, b, impl) ** 2), argnums=(0, 1))(w, b)

    @jax.jit
    def vmapped(x, xT, wT, bT):
        out = {}
        for i in FAST_CONV:
            out[i, "shared"] = jax.vmap(lambda w, b: f(x, w, b, i))(wT, bT)
            out[i, "per"] = jax.vmap(lambda x, w, b: f(x, w, b, i))(xT, wT, bT)
            out[i, "grad"] = jax.vmap(lambda w, b: gl(x, w, b, i))(wT, bT)
        return out

    @jax.jit
    def single(x, xt, w, b):
        return {(i, k): v for i in FAST_CONV for k, v in
                {"shared": f(x, w, b, i), "per": f(xt, w, b, i),
                 "grad": gl(x, w, b, i)}.items()}

    got = vmapped(x, xT, wT, bT)
    for t in range(T):
        ref = single(x, xT[t], wT[t], bT[t])
        for key, r in ref.items():
            g = jax.tree.map(lambda a: a[t], got[key])
            jax.tree.map(lambda a, b: np.testing.assert_allclose(
                a, b, rtol=1e-5, atol=1e-4, err_msg=str(key)), g, r)


def test_same_padding_is_tf_asymmetric():
    assert ops.same_padding(8, 2, 1) == (0, 1)
    assert ops.same_padding(9, 2, 2) == (0, 1)
    assert ops.same_padding(7, 3, 2) == (1, 1)
    assert ops.same_padding(8, 3, 2) == (0, 1)
    assert ops.same_padding(5, 1, 1) == (0, 0)
    assert ops.conv_output_shape((28, 28), 3, 1, "valid") == (26, 26)
    assert ops.conv_output_shape((13, 11), (3, 3), (2, 2), "same") == (7, 6)
    assert ops.pool_output_shape((26, 26), 2) == (13, 13)
    assert ops.pool_output_shape((7, 7), 2, padding="same") == (4, 4)
    assert ops.pool_output_shape((9, 8), 3, 2, "valid") == (4, 3)


def test_auto_impl_choice():
    if jax.default_backend() == "cpu":
        assert ops.resolve_conv_impl("auto", 1) == "shifted"
        assert ops.resolve_conv_impl("auto", 16) == "patches"
        assert ops.resolve_pool_impl("auto", (2, 2), (2, 2)) == "reshape"
        assert ops.resolve_pool_impl("auto", (3, 3), (2, 2)) == "shifted"
    else:
        assert ops.resolve_conv_impl("auto", 1) == "xla"
    with pytest.raises(ValueError):
        ops.resolve_conv_impl("bogus")
    with pytest.raises(ValueError):
        ops.max_pool2d(jnp.zeros((1, 4, 4, 1)), 3, 2, impl="reshape")
    with pytest.raises(ValueError):
        ops.conv2d(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), padding="full")


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------
def _ref_pads(hw, window, strides, padding):
    return lax.padtype_to_pads(hw, window, strides, padding.upper())


def _ref_max(x, p, s, padding):
    pads = [(0, 0)] + list(_ref_pads(x.shape[1:3], p, s, padding)) + [(0, 0)]
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, *p, 1), (1, *s, 1), pads)


def _ref_avg(x, p, s, padding):
    pads = [(0, 0)] + list(_ref_pads(x.shape[1:3], p, s, padding)) + [(0, 0)]
    sums = lax.reduce_window(x, 0.0, lax.add, (1, *p, 1), (1, *s, 1), pads)
    cnt = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, (1, *p, 1), (1, *s, 1), pads)
    return sums / cnt


# (N, H, W, C), pool, strides (None = pool), padding
POOL_CASES = [
    ((2, 8, 8, 3), (2, 2), None, "valid"),
    ((2, 9, 7, 3), (2, 2), None, "valid"),   # odd sizes: floor / crop
    ((2, 9, 7, 3), (2, 2), None, "same"),    # odd sizes: pad
    ((2, 11, 10, 2), (3, 3), None, "same"),
    ((2, 9, 8, 2), (3, 3), (2, 2), "valid"),  # stride != pool size
    ((2, 9, 8, 2), (3, 3), (2, 2), "same"),
    ((1, 7, 9, 2), (2, 3), (1, 2), "same"),
    ((2, 6, 6, 2), (2, 2), (1, 1), "valid"),
]


def _impls_for(p, s):
    out = ["xla", "shifted", "auto"]
    if s is None or tuple(s) == tuple(p):
        out.append("reshape")
    return out


@pytest.mark.parametrize("xs,p,s,padding", POOL_CASES)
def test_pools_match_reduce_window(xs, p, s, padding):
    x = _rand(11, xs)
    strides = p if s is None else s
    impls = _impls_for(p, s)

    @jax.jit
    def all_impls(x):
        return {(kind, i): fn(x, p, s, padding, impl=i) for i in impls
                for kind, fn in (("max", ops.max_pool2d), ("avg", ops.avg_pool2d))}

    refs = {"max": _ref_max(x, p, strides, padding), "avg": _ref_avg(x, p, strides, padding)}
    assert refs["max"].shape[1:3] == ops.pool_output_shape(xs[1:3], p, s, padding)
    for (kind, impl), got in all_impls(x).items():
        assert got.shape == refs[kind].shape
        np.testing.assert_allclose(got, refs[kind], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{kind} {impl}")


@pytest.mark.parametrize("xs,p,s,padding", POOL_CASES)
def test_pool_grads_match_xla(xs, p, s, padding):
    # Continuous random input: no ties, so all impls must agree exactly.
    x = _rand(12, xs)
    ct = _rand(13, _ref_max(x, p, p if s is None else s, padding).shape)
    impls = _impls_for(p, s)

    @jax.jit
    def grads(x):
        return {(fn.__name__, i): jax.grad(
                    lambda x: jnp.sum(fn(x, p, s, padding, impl=i) * ct))(x)
                for i in impls for fn in (ops.max_pool2d, ops.avg_pool2d)}

    g = grads(x)
    for (name, impl), got in g.items():
        np.testing.assert_allclose(got, g[name, "xla"], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name} {impl}")


def test_avg_same_excludes_padding_from_divisor():
    # 3x3 input, pool 2x2 stride 2, "same": output 2x2, padded bottom/right.
    x = jnp.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    for impl in ["xla", "reshape", "shifted", "auto"]:
        y = ops.avg_pool2d(x, 2, padding="same", impl=impl)[0, :, :, 0]
        assert y.shape == (2, 2)
        np.testing.assert_allclose(y[0, 0], (1 + 2 + 4 + 5) / 4)
        np.testing.assert_allclose(y[0, 1], (3 + 6) / 2)  # not (3+6)/4
        np.testing.assert_allclose(y[1, 0], (7 + 8) / 2)
        np.testing.assert_allclose(y[1, 1], 9.0)  # bottom-right corner: 9/1, not 9/4


def test_max_pool_tie_routing():
    # All-equal 2x2 window: total gradient 1 in every impl; "xla" and "shifted"
    # put it on the first (top-left) element like TF/Keras, "reshape" (and so
    # "auto" on CPU) splits it equally.
    x = jnp.ones((1, 2, 2, 1))
    g = jax.jit(lambda x: {
        i: jax.grad(lambda x: ops.max_pool2d(x, impl=i).sum())(x)[0, :, :, 0]
        for i in ["xla", "shifted", "reshape", "auto"]})(x)
    first = np.array([[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(g["shifted"], first)
    np.testing.assert_allclose(g["xla"], first)
    np.testing.assert_allclose(g["reshape"], np.full((2, 2), 0.25))
    if jax.default_backend() == "cpu":
        np.testing.assert_allclose(g["auto"], g["reshape"])


@pytest.mark.parametrize("shape", [(4, 26, 26, 3), (2, 7, 9, 2)])  # 7x9: a cropped row and column
def test_max_pool_gradient_equals_keras_jax_on_ties(shape):
    """Keras 3's MaxPooling2D on JAX is ``lax.reduce_window`` max; its gradient
    (select_and_scatter with ``ge``) goes to the first maximum of each window. Inputs with
    many exact ties (as MNIST's saturated strokes give after a conv + ReLU), bitwise."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 3, (3, *shape)).astype(np.float32))
    g_out = jnp.asarray(rng.standard_normal((3, shape[0], shape[1] // 2, shape[2] // 2, shape[3]),
                                            np.float32))

    def keras_jax(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def grad(pool):
        return jax.jit(jax.vmap(jax.grad(lambda x, g: jnp.sum(pool(x) * g))))(x, g_out)

    ref = np.asarray(grad(keras_jax))
    assert np.count_nonzero(ref) < ref.size // 4 + 1  # one element per window, not a split
    for impl in ["shifted", "xla"]:
        np.testing.assert_array_equal(np.asarray(grad(lambda x, i=impl: ops.max_pool2d(x, 2, impl=i))), ref,
                                      err_msg=impl)
    split = np.asarray(grad(lambda x: ops.max_pool2d(x, 2, impl="reshape")))
    assert not np.array_equal(split, ref)  # the inputs do tie; "reshape" splits them
    np.testing.assert_allclose(split.sum(), ref.sum(), rtol=1e-5)


def test_pool_vmap_and_same_padding_grad():
    T = 3
    xT = _rand(14, (T, 2, 7, 7, 3))

    def f(x, impl):
        return ops.max_pool2d(x, 3, 2, "same", impl=impl)

    def both(x, impl):
        return f(x, impl), jax.grad(lambda x: jnp.sum(f(x, impl) ** 2))(x)

    impls = ["shifted", "xla"]
    vm = jax.jit(lambda xT: {i: jax.vmap(lambda x: both(x, i))(xT) for i in impls})(xT)
    one = jax.jit(lambda x: {i: both(x, i) for i in impls})
    for t in range(T):
        ref = one(xT[t])
        for i in impls:
            np.testing.assert_allclose(vm[i][0][t], ref[i][0], rtol=1e-6)
            np.testing.assert_allclose(vm[i][1][t], ref[i][1], rtol=1e-6)
            assert np.all(np.isfinite(vm[i][1][t]))
        np.testing.assert_allclose(vm["shifted"][1][t], ref["xla"][1], rtol=1e-6)


_DATA = os.environ.get("SWEEPLAB_DATA")
_HAVE_MNIST = bool(_DATA) and (Path(_DATA) / "mnist" / "train-images-idx3-ubyte.gz").exists()


@pytest.mark.skipif(not _HAVE_MNIST, reason="needs a real MNIST copy (SWEEPLAB_DATA): its saturated strokes tie")
def test_cnn_training_with_shifted_pool_equals_xla_pool(monkeypatch):
    """Training the seed-004 CNN (W5) on real MNIST, whose saturated strokes give exactly tied
    windows after the conv + ReLU, with the "shifted" max-pool gives the weights of XLA's
    ``reduce_window`` max-pool, which is Keras 3's on JAX (bitwise with jax 0.10.2). "reshape"
    (CPU's "auto") splits a tied window's gradient: its weights are measurably away."""
    if jax.default_backend() != "cpu":
        pytest.skip("the conv's 'auto' is 'xla' off CPU")
    from sweeplab.engine import trainer
    from sweeplab.spec.expand import study_from_text

    text = """
[study]
name = "pool-ties"
[data]
dataset = "mnist"
subsample = 1280
[model]
layers = [
  { type = "conv2d", filters = 28, kernel_size = 3, activation = "relu" },
  { type = "max_pooling2d", pool_size = 2 },
  { type = "flatten" },
  { type = "dense", units = 10, activation = "softmax" },
]
[train]
optimizer = "rmsprop"
batch_size = 32
epochs = 1
"""
    study = study_from_text(text)

    def train():
        trainer._PROGRAMS.clear()
        (res,) = trainer.train_group(list(study.trials), study_seed=0)
        return res.params

    resolve = ops.resolve_pool_impl
    monkeypatch.setattr(ops, "resolve_pool_impl",
                        lambda impl, *a, **k: "shifted" if impl == "auto" else resolve(impl, *a, **k))
    auto = train()  # the "shifted" pool
    monkeypatch.setattr(ops, "resolve_pool_impl",
                        lambda impl, *a, **k: "xla" if impl == "auto" else resolve(impl, *a, **k))
    xla = train()
    monkeypatch.setattr(ops, "resolve_pool_impl",
                        lambda impl, *a, **k: "reshape" if impl == "auto" else resolve(impl, *a, **k))
    split = train()
    trainer._PROGRAMS.clear()
    assert auto.keys() == xla.keys() == split.keys()

    def diff(a):  # the largest difference from the xla-pooled weights, relative to the weights' scale
        return max(float(np.max(np.abs(a[k] - xla[k])) / (np.max(np.abs(xla[k])) + 1e-30)) for k in xla)

    # Same tie rule: equal (bitwise with jax 0.10.2; the margin allows float reassociation should
    # XLA fuse the two programs differently); the split rule moves the weights (~3e-7 here).
    assert diff(split) > 0.0
    assert diff(auto) <= 0.25 * diff(split), (diff(auto), diff(split))
