"""Every layer: forward pass and gradients (w.r.t. input and parameters) against finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeplab.models.layers import LAYERS

CASES = [
    ({"type": "dense", "units": 3, "activation": "tanh"}, (4,)),
    ({"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same"}, (5, 5, 2)),
    ({"type": "conv2d", "filters": 2, "kernel_size": 2, "strides": 2}, (6, 6, 1)),
    ({"type": "max_pooling2d", "pool_size": 2}, (4, 4, 2)),
    ({"type": "max_pooling2d", "pool_size": 3, "strides": 2, "padding": "same"}, (5, 5, 1)),
    ({"type": "average_pooling2d", "pool_size": 2, "padding": "same"}, (5, 5, 2)),
    ({"type": "flatten"}, (3, 2, 2)),
    ({"type": "dropout", "rate": 0.3}, (6,)),
    ({"type": "batch_normalization"}, (3,)),
    ({"type": "activation", "activation": "tanh"}, (2, 3)),
]


def test_every_registered_layer_type_has_a_case():
    """A new layer type must come with a case above (forward pass and gradients checked)."""
    assert {LAYERS.canonical(c["type"]) for c, _ in CASES} == set(LAYERS.names())


def _fd_check(f, x, eps=1e-6, tol=1e-6):
    """Central finite differences of scalar f at x (float64) against jax.grad."""
    g = np.asarray(jax.grad(f)(x))
    flat = np.asarray(x).ravel()
    num = np.zeros_like(flat)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = eps
        num[i] = (f(jnp.asarray((flat + e).reshape(x.shape))) - f(jnp.asarray((flat - e).reshape(x.shape)))) / (2 * eps)
    np.testing.assert_allclose(g.ravel(), num, rtol=tol, atol=tol)


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("cfg,in_shape", CASES, ids=[c[0]["type"] + str(i) for i, c in enumerate(CASES)])
def test_layer_gradients_match_finite_differences(cfg, in_shape):
    cfg = LAYERS.validate(cfg)
    kind = LAYERS.get(cfg["type"]).obj
    key = jax.random.PRNGKey(1)
    params = kind.init(cfg, key, in_shape) if kind.init else {}
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    # distinct values avoid max-pool ties, where the derivative is not defined
    x = jnp.asarray(np.random.default_rng(0).permutation(np.prod((2, *in_shape))).reshape((2, *in_shape)) / 7.0 - 1.0)
    out_shape = kind.out_shape(cfg, in_shape)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(2, *out_shape)))

    state = kind.init_state(cfg, in_shape) if kind.init_state else None
    state = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), state)

    def apply(p, xx):
        # The one layer protocol: the layer applies its own activation; the key only when it needs one.
        key = jax.random.PRNGKey(3) if kind.needs_rng else None
        y, _ = kind.apply(cfg, p, xx, state=state, key=key, hp={}, train=True)
        assert y.shape == (2, *out_shape)
        return jnp.sum(y * w)  # a weighted sum exercises every output

    _fd_check(lambda xx: apply(params, xx), x)
    for layer_name, leaf in params.items():
        def f(v, name=layer_name):
            return apply({**params, name: v}, x)

        _fd_check(f, leaf)


def test_dropout_is_identity_at_inference_and_scales_kept_units_in_training():
    cfg = LAYERS.validate({"type": "dropout", "rate": 0.25})
    kind = LAYERS.get("dropout").obj
    x = jnp.ones((1000, 8))
    assert jnp.array_equal(kind.apply(cfg, {}, x, key=jax.random.PRNGKey(0), train=False)[0], x)
    y = np.asarray(kind.apply(cfg, {}, x, key=jax.random.PRNGKey(0), train=True)[0])
    # a per-trial rate (as the group program passes it) wins over the config's
    y2 = np.asarray(kind.apply(cfg, {}, x, key=jax.random.PRNGKey(0), hp={"rate": jnp.float32(0.5)}, train=True)[0])
    assert abs((y2 == 0).mean() - 0.5) < 0.02
    assert set(np.unique(y).round(6)) == {0.0, round(1 / 0.75, 6)}
    assert abs((y == 0).mean() - 0.25) < 0.02


@pytest.mark.parametrize("shape", [(1, 128, 512), (7, 33), (5,), (2, 13, 13, 28)])
def test_dropout_draws_jax_random_bits_exactly(shape):
    # models/rng.py computes jax.random's Threefry bits itself (unrolled): the masks, and so
    # every stored dropout result, are those of jax.random.bernoulli / split, bit for bit.
    from sweeplab.models import rng

    for seed in (0, 7, 2**31 + 5):
        key = jax.random.PRNGKey(seed)
        for p in (0.8, 0.5, 0.0, 1.0, 0.123):
            np.testing.assert_array_equal(rng.bernoulli(key, jnp.float32(p), shape),
                                          jax.random.bernoulli(key, jnp.float32(p), shape))
        np.testing.assert_array_equal(rng.split(key), jax.random.split(key))
        np.testing.assert_array_equal(rng.split(key, 469), jax.random.split(key, 469))
    # vmapped, with a per-trial (traced) keep probability, as in a group of trials
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(3))
    keep = jnp.asarray([0.2, 0.5, 0.9], jnp.float32)
    got = jax.jit(jax.vmap(lambda k, p: rng.bernoulli(k, p, shape)))(keys, keep)
    want = jax.jit(jax.vmap(lambda k, p: jax.random.bernoulli(k, p, shape)))(keys, keep)
    np.testing.assert_array_equal(got, want)


def test_dropout_mask_compiles_without_a_loop():
    # jax.random's CPU lowering of the Threefry hash is a rolled 5-iteration while loop
    # (several passes over the mask per step: 1.5-2 s of a W4 epoch); the unrolled hash is
    # one fused elementwise pass. The dropout layer's compiled training step has no loop.
    cfg = LAYERS.validate({"type": "dropout", "rate": 0.2})
    kind = LAYERS.get("dropout").obj
    x = jnp.ones((128, 512), jnp.float32)
    f = jax.jit(lambda x, k, r: kind.apply(cfg, {}, x, key=k, hp={"rate": r}, train=True)[0])
    hlo = f.lower(x, jax.random.PRNGKey(0), jnp.float32(0.2)).compile().as_text()
    assert " while(" not in hlo


def _dense_step(cfg):
    """One RMSprop-like step on a dense layer's kernel: gradient, then elementwise passes over it."""
    kind = LAYERS.get("dense").obj

    def step(p, v, x):
        g = jax.grad(lambda p: jnp.sum(kind.apply(cfg, p, x)[0] ** 2))(p)["kernel"]
        v = 0.9 * v + 0.1 * g * g
        return p["kernel"] - 0.001 * g / jnp.sqrt(v + 1e-7), v

    return step


def test_dense_kernel_gradient_reaches_the_optimizer_without_a_transpose():
    # Under vmap (every group is vmapped), JAX's transpose(dot(g, x)) kernel gradient was
    # folded by XLA into each optimizer pass as a column-by-column read (W4: the update of
    # the 784x512 kernel as slow as its forward matmul). The dense layer's own VJP computes
    # dot(x^T, g) in the kernel's layout: no transpose left in the compiled step.
    cfg = LAYERS.validate({"type": "dense", "units": 64})
    p = {"kernel": jnp.ones((1, 784, 64)), "bias": jnp.zeros((1, 64))}
    hlo = jax.jit(jax.vmap(_dense_step(cfg))).lower(p, jnp.ones((1, 784, 64)), jnp.ones((1, 30, 784)))
    assert " transpose(" not in hlo.compile().as_text()


@pytest.mark.parametrize("trials", [None, 1, 3])
def test_dense_gradients_equal_jax_autodiff_of_a_matmul(trials):
    # The input gradient is JAX's own (bit for bit); the kernel gradient sums the same
    # products in another order (float32 rounding).
    cfg = LAYERS.validate({"type": "dense", "units": 37, "activation": "relu"})
    kind = LAYERS.get("dense").obj
    rs = np.random.default_rng(0)
    lead = () if trials is None else (trials,)
    x = jnp.asarray(rs.standard_normal(lead + (30, 50)), jnp.float32)
    p = {"kernel": jnp.asarray(rs.standard_normal(lead + (50, 37)), jnp.float32),
         "bias": jnp.asarray(rs.standard_normal(lead + (37,)), jnp.float32)}
    ours = lambda p, x: jnp.sum(kind.apply(cfg, p, x)[0] ** 2)
    plain = lambda p, x: jnp.sum(jax.nn.relu(x @ p["kernel"] + p["bias"].reshape(1, -1)) ** 2)
    grad = lambda f: jax.grad(f, argnums=(0, 1))
    if trials is not None:
        grad = lambda f, g=grad: jax.vmap(g(f))
    (gp, gx), (rp, rx) = jax.jit(grad(ours))(p, x), jax.jit(grad(plain))(p, x)
    np.testing.assert_array_equal(gx, rx)
    np.testing.assert_array_equal(gp["bias"], rp["bias"])
    np.testing.assert_allclose(gp["kernel"], rp["kernel"], rtol=1e-5, atol=1e-5)


def test_batch_normalization_updates_moving_statistics_like_keras():
    cfg = LAYERS.validate({"type": "batch_normalization"})
    kind = LAYERS.get("batch_normalization").obj
    x = jnp.asarray(np.random.default_rng(0).normal(3.0, 2.0, size=(256, 4)))
    p, state = jax.tree_util.tree_map(lambda a: jnp.asarray(a, x.dtype),
                                      (kind.init(cfg, None, (4,)), kind.init_state(cfg, (4,))))
    y, st = kind.apply(cfg, p, x, state=state, train=True)
    np.testing.assert_allclose(np.asarray(y).mean(0), 0, atol=1e-5)
    # Keras: moving = momentum * moving + (1 - momentum) * batch statistic
    np.testing.assert_allclose(st["moving_mean"], 0.01 * np.asarray(x).mean(0), rtol=1e-5)
    np.testing.assert_allclose(st["moving_variance"], 0.99 + 0.01 * np.asarray(x).var(0), rtol=1e-5)
    y_inf, st2 = kind.apply(cfg, p, x, state=st, train=False)
    assert st2 is st
    mean, var = np.asarray(st["moving_mean"]), np.asarray(st["moving_variance"])
    np.testing.assert_allclose(y_inf, (np.asarray(x) - mean) / np.sqrt(var + 1e-3), rtol=1e-5)


def test_summary_counts_batch_normalization_statistics_as_non_trainable():
    """Keras: a BatchNormalization of 32 channels has 128 parameters, 64 of them non-trainable."""
    from sweeplab.data.pipeline import HeadInfo
    from sweeplab.models.model import build_model
    from sweeplab.models.summary import rows, summary_text, totals
    from sweeplab.spec.schema import ModelSpec, TrainSpec

    spec = ModelSpec.model_validate({"layers": [{"type": "conv2d", "filters": 32, "kernel_size": 3},
                                                {"type": "batch_normalization"},
                                                {"type": "max_pooling2d"}, {"type": "flatten"}]})
    model = build_model(spec, TrainSpec(), {"output": HeadInfo("output", "multiclass", 10, None)}, (28, 28, 1))
    # Keras's numbers: Conv2D 320, BatchNormalization 128, Dense 13*13*32*10 + 10 = 54,090
    assert [r[1:] for r in rows(model)][1:3] == [("Conv2D", "(None, 26, 26, 32)", 320),
                                                 ("BatchNormalization", "(None, 26, 26, 32)", 128)]
    assert totals(model) == {"total": 54_538, "trainable": 54_474, "non_trainable": 64}
    text = summary_text(model)
    assert "Total params: 54,538" in text and "Non-trainable params: 64" in text
    assert model.n_params == 54_474  # what a trial records: trainable parameters


def test_cli_summary_prints_batch_normalization_statistics_as_non_trainable(tmp_path):
    """`sweeplab summary` prints Keras's three totals (it printed "Non-trainable params: 0")."""
    from typer.testing import CliRunner

    from sweeplab.cli import app

    study = tmp_path / "bn.toml"
    study.write_text('[study]\nname = "bn"\n[data]\ndataset = "digits"\n'
                     '[model]\nlayers = [{type = "conv2d", filters = 8, kernel_size = 3},'
                     ' {type = "batch_normalization"}, {type = "flatten"}]\n'
                     '[train]\noptimizer = "adam"\nloss = "sparse_categorical_crossentropy"\nepochs = 1\n')
    out = CliRunner().invoke(app, ["summary", str(study)])
    assert out.exit_code == 0, out.output
    # conv 3*3*1*8 + 8 = 80; BN 4*8 = 32 (16 non-trainable); dense 6*6*8*10 + 10 = 2,890
    assert "Total params: 3,002" in out.output
    assert "Trainable params: 2,986" in out.output and "Non-trainable params: 16" in out.output


@pytest.mark.parametrize("cfg,in_shape", CASES, ids=[c[0]["type"] + str(i) for i, c in enumerate(CASES)])
def test_declared_shapes_match_what_init_draws(cfg, in_shape):
    """Planning counts parameters from ``param_shapes``/``state_shapes`` (no JAX): they must be what
    ``init``/``init_state`` return, leaf for leaf; a layer with ``init`` declares its shapes."""
    cfg = LAYERS.validate(cfg)
    kind = LAYERS.get(cfg["type"]).obj
    for make, declared in ((kind.init, kind.param_shapes), (kind.init_state, kind.state_shapes)):
        assert (make is None) == (declared is None)
        if make is None:
            continue
        args = (cfg, jax.random.PRNGKey(0), in_shape) if make is kind.init else (cfg, in_shape)
        drawn = make(*args)
        assert {k: tuple(v.shape) for k, v in drawn.items()} == declared(cfg, in_shape)
        assert list(drawn) == list(declared(cfg, in_shape))  # same order: the model's parameter tree


def test_declared_shapes_refuse_what_init_refuses():
    dense = LAYERS.validate({"type": "dense", "units": 3})
    kind = LAYERS.get("dense").obj
    with pytest.raises(ValueError, match="flat input"):
        kind.param_shapes(dense, (4, 4, 1))
    with pytest.raises(ValueError, match="flat input"):
        kind.init(dense, jax.random.PRNGKey(0), (4, 4, 1))
    no_bias = LAYERS.validate({"type": "conv2d", "filters": 2, "use_bias": False})
    assert LAYERS.get("conv2d").obj.param_shapes(no_bias, (5, 5, 3)) == {"kernel": (3, 3, 3, 2)}
    bn = LAYERS.validate({"type": "batch_normalization", "center": False})
    assert LAYERS.get("batch_normalization").obj.param_shapes(bn, (7,)) == {"gamma": (7,)}


def test_a_layer_refusing_its_input_is_a_user_error_but_a_bug_keeps_its_type(monkeypatch):
    # Building a model used to turn ANY ValueError from a layer's shape code into a one-line user
    # error, so a bug in sweeplab looked like a mistake in the study file.
    from sweeplab.data.pipeline import HeadInfo
    from sweeplab.errors import UserError
    from sweeplab.models import ops
    from sweeplab.models.model import build_model
    from sweeplab.spec.schema import ModelSpec, TrainSpec

    def build(layers, shape=(28, 28, 1)):
        spec = ModelSpec.model_validate({"layers": layers})
        return build_model(spec, TrainSpec(), {"output": HeadInfo("output", "multiclass", 10, None)}, shape)

    with pytest.raises(UserError, match="layer 'conv2d.*kernel .* is larger than its input"):
        build([{"type": "conv2d", "filters": 2, "kernel_size": 5}, {"type": "flatten"}], (4, 4, 1))

    def buggy(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(ops, "conv_output_shape", buggy)
    with pytest.raises(ValueError, match="broadcast") as caught:
        build([{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}])
    assert not isinstance(caught.value, UserError)
