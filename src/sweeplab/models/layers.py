"""Layers as data: a table of Keras layer types with their parameters and defaults.

Each layer type has a parameter table (validated in plain Python before
anything compiles) and a :class:`LayerType`: the one protocol every layer
follows (shape rule, ``init``, ``init_state``, ``apply``, ``needs_rng``,
Keras display name). The model calls every layer the same way, so a new
layer, stateful or random, is one entry here. Layouts follow Keras: images
are NHWC, dense kernels ``(in, out)``, conv kernels HWIO.

Per-trial parameters (``Param(per_trial=True)``) reach ``apply`` through
``hp``: numbers as float32 arrays, and a name listed in ``LayerType.choices``
as an int32 index into the group's candidates, which ``cfg`` then holds as a
tuple (see :mod:`sweeplab.engine.hparams`). Other per-trial names (the
initializers) are used by ``init`` only, which runs per trial outside the
compiled program.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from math import prod
from typing import Any, Callable

from sweeplab.errors import UserError
from sweeplab.models import ops
from sweeplab.vocab.activations import ACTIVATIONS
from sweeplab.vocab.initializers import make_initializer
from sweeplab.vocab.params import POSITIVE, POSITIVE_INT, UNIT_OPEN_RIGHT, Name, OneOf, Pair, check_entry
from sweeplab.vocab.registry import Entry, Param, Registry, UnknownNameError

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")
rng = lazy("sweeplab.models.rng")


@dataclass(frozen=True)
class LayerType:
    """The behaviour of one layer type: the protocol every layer follows.

    Attributes:
        keras_name: the Keras class name, shown by ``summary`` (``"Conv2D"``).
        out_shape: ``out_shape(cfg, in_shape) -> out_shape`` (one example, no batch axis);
            raises ValueError when the layer does not fit its input.
        apply: ``apply(cfg, params, x, *, state, key, hp, train) -> (y, new_state)``.
            ``state`` is this layer's state (None without ``init_state``), ``key`` a
            PRNG key when ``needs_rng`` and training (else None), ``hp`` this trial's
            per-trial values of this layer (see the module docstring).
        init: ``init(cfg, key, in_shape) -> params`` (trainable arrays), or None.
        init_state: ``init_state(cfg, in_shape) -> state`` (non-trainable arrays
            updated by ``apply``, e.g. moving statistics), or None.
        needs_rng: ``apply`` draws random numbers while training.
        choices: per-trial parameters naming an activation chosen inside the
            compiled program (an int32 index per trial).
        param_shapes: ``param_shapes(cfg, in_shape) -> {name: shape}`` of what ``init``
            returns, without drawing (planning counts parameters without JAX); raises
            ValueError like ``init`` when the layer does not fit its input. None: the
            model counts through ``jax.eval_shape`` of ``init``.
        state_shapes: the same for ``init_state``.
    """

    keras_name: str
    out_shape: Callable[[dict, tuple], tuple]
    apply: Callable[..., tuple[Any, Any]]
    init: Callable[[dict, Any, tuple], dict] | None = None
    init_state: Callable[[dict, tuple], dict] | None = None
    needs_rng: bool = False
    choices: tuple[str, ...] = ()
    param_shapes: Callable[[dict, tuple], dict[str, tuple]] | None = None
    state_shapes: Callable[[dict, tuple], dict[str, tuple]] | None = None


class LayerRegistry(Registry):
    """The layer table; ``validate`` fills defaults and checks every field."""

    def validate(self, layer: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(layer, dict) or "type" not in layer:
            raise UserError(f"a layer is a table with a 'type' (one of {', '.join(self.names())}), got {layer!r}")
        entry = self.get(layer["type"])
        accepted = {p.name for p in entry.params} | {"type", "name"}
        for key in layer:
            if key not in accepted:
                raise UserError(
                    f"unknown parameter {key!r} for layer {entry.name!r}; accepted: {', '.join(sorted(accepted))}"
                )
        given = {k: v for k, v in layer.items() if k not in ("type", "name")}
        out = {"type": entry.name, **check_entry(entry, given, self.kind)}  # InvalidParamError names the field
        if "name" in layer:
            out["name"] = layer["name"]
        finish = entry.meta.get("finish")
        return finish(out) if finish else out


LAYERS = LayerRegistry("layer")


def _pool_strides(cfg):
    if cfg["strides"] is None:  # Keras: strides default to pool_size
        cfg["strides"] = cfg["pool_size"]
    return cfg


# ----------------------------------------------------------------------------- behaviour
def activate(cfg: dict, hp: dict, y):
    """Apply the layer's activation: one name, or this trial's pick among the group's candidates.

    With several candidates every one is computed and ``lax.select_n`` keeps this
    trial's (a select, so an unused candidate's inf/nan cannot leak).
    """
    acts = cfg.get("activation", "linear")
    if isinstance(acts, (tuple, list)):
        if len(acts) > 1:
            return jax.lax.select_n(hp["activation"], *[ACTIVATIONS.get(a).obj(y) for a in acts])
        (acts,) = acts
    return y if acts == "linear" else ACTIVATIONS.get(acts).obj(y)


def _stateless(fn):
    """A layer without state: ``fn(cfg, params, x, hp) -> y`` in the layer protocol."""

    def apply(cfg, params, x, *, state=None, key=None, hp=None, train=False):
        return fn(cfg, params, x, hp or {}), state

    return apply


def _kernel_and_bias(cfg, key, kernel_shape, units) -> dict:
    kk, kb = jax.random.split(key)
    p = {"kernel": make_initializer(cfg["kernel_initializer"])(kk, kernel_shape, jnp.float32)}
    if cfg["use_bias"]:
        p["bias"] = make_initializer(cfg["bias_initializer"])(kb, (units,), jnp.float32)
    return p


def _with_bias(cfg, kernel_shape, units) -> dict:
    return {"kernel": tuple(kernel_shape), **({"bias": (units,)} if cfg["use_bias"] else {})}


def _dense_shapes(cfg, in_shape):
    if len(in_shape) != 1:
        raise UserError(f"dense expects a flat input (add a flatten layer first), got shape {in_shape}")
    return _with_bias(cfg, (in_shape[0], cfg["units"]), cfg["units"])


def _dense_init(cfg, key, in_shape):
    return _kernel_and_bias(cfg, key, _dense_shapes(cfg, in_shape)["kernel"], cfg["units"])


def _channels(v, ndim: int):
    """A per-channel vector shaped to broadcast over the last axis of a rank-``ndim`` array
    (explicitly: the tests run with rank promotion disabled)."""
    return v.reshape((1,) * (ndim - 1) + (-1,))


def _matmul(x, w):
    """``x @ w`` for rows ``x`` (batch, in) and a kernel ``w`` (in, out), whose kernel gradient
    is computed straight into the kernel's (in, out) layout.

    JAX differentiates ``x @ w`` into ``transpose(dot(g, x))``. Under ``vmap`` (every group is
    vmapped) XLA's CPU backend keeps the (out, in) product and folds the transpose into each
    consumer, so every elementwise optimizer pass over the kernel (Adam: two slots and the
    weights) read it column by column: in W4 the RMSprop update of the 784x512 kernel took as
    long as that layer's forward matmul (benchmarks/README.md, "MLP path, session
    2026-12-01b"). Here the kernel gradient is ``dot(x^T, g)``: the same products, summed by
    another dot call, so equal to JAX's to float32 rounding (on the benchmark workloads the
    trained parameters came out bit-equal; a deliberate choice, see the README); the input
    gradient is JAX's own.
    """
    return _kernel_layout_matmul()(x, w)


@functools.cache
def _kernel_layout_matmul():
    """The custom-VJP matmul of :func:`_matmul`, built on first use (JAX loads lazily)."""

    @jax.custom_vjp
    def matmul(x, w):
        return x @ w

    def fwd(x, w):
        return x @ w, (x, w)

    def bwd(res, g):
        x, w = res
        dx = jax.lax.dot_general(g, w, (((1,), (1,)), ((), ())))  # JAX's own input gradient
        dw = jax.lax.dot_general(x, g, (((0,), (0,)), ((), ())))  # (in, out), no transpose
        return dx, dw

    matmul.defvjp(fwd, bwd)
    return matmul


def _dense_apply(cfg, p, x, hp):
    y = _matmul(x, p["kernel"]) if x.ndim == 2 else x @ p["kernel"]
    return activate(cfg, hp, y + _channels(p["bias"], y.ndim) if "bias" in p else y)


def _conv_shapes(cfg, in_shape):
    if len(in_shape) != 3:
        raise UserError(f"conv2d expects an image input (H, W, C), got shape {in_shape}")
    return _with_bias(cfg, (*cfg["kernel_size"], in_shape[2], cfg["filters"]), cfg["filters"])


def _conv_init(cfg, key, in_shape):
    return _kernel_and_bias(cfg, key, _conv_shapes(cfg, in_shape)["kernel"], cfg["filters"])


def _conv_apply(cfg, p, x, hp):
    return activate(cfg, hp, ops.conv2d(x, p["kernel"], p.get("bias"), strides=cfg["strides"],
                                        padding=cfg["padding"]))


def _conv_shape(cfg, s):
    if len(s) != 3:
        raise UserError(f"conv2d expects an image input (H, W, C), got shape {s}")
    h, w = ops.conv_output_shape(s[:2], cfg["kernel_size"], cfg["strides"], cfg["padding"])
    if h < 1 or w < 1:
        raise UserError(f"conv2d kernel {cfg['kernel_size']} is larger than its input {s[:2]}")
    return (h, w, cfg["filters"])


def _pool_shape(cfg, s):
    if len(s) != 3:
        raise UserError(f"pooling expects an image input (H, W, C), got shape {s}")
    h, w = ops.pool_output_shape(s[:2], cfg["pool_size"], cfg["strides"], cfg["padding"])
    if h < 1 or w < 1:
        raise UserError(f"pool size {cfg['pool_size']} is larger than its input {s[:2]}")
    return (h, w, s[2])


def _dropout_apply(cfg, p, x, *, state=None, key=None, hp=None, train=False):
    if not train:
        return x, state
    keep = jnp.asarray(1.0 - (hp or {}).get("rate", cfg["rate"]), x.dtype)
    # jax.random.bernoulli's exact bits, without its rolled CPU loop (see models/rng.py).
    mask = rng.bernoulli(key, keep, x.shape)
    # Inverted dropout as in Keras; a rate of 0 keeps every unit (keep == 1).
    return jnp.where(mask, x / keep, 0.0), state


def _bn_shapes(cfg, in_shape) -> dict:
    c = (in_shape[-1],)
    return {**({"gamma": c} if cfg["scale"] else {}), **({"beta": c} if cfg["center"] else {})}


def _bn_init(cfg, key, in_shape):
    fill = {"gamma": jnp.ones, "beta": jnp.zeros}
    return {name: fill[name](shape, jnp.float32) for name, shape in _bn_shapes(cfg, in_shape).items()}


def _bn_state_shapes(cfg, in_shape) -> dict:
    return {"moving_mean": (in_shape[-1],), "moving_variance": (in_shape[-1],)}


def _bn_init_state(cfg, in_shape) -> dict:
    c = in_shape[-1]
    return {"moving_mean": jnp.zeros((c,), jnp.float32), "moving_variance": jnp.ones((c,), jnp.float32)}


def _bn_apply(cfg, p, x, *, state, key=None, hp=None, train=False):
    axes = tuple(range(x.ndim - 1))
    if train:
        mean, var = jnp.mean(x, axes), jnp.var(x, axes)
        m = cfg["momentum"]
        new_state = {
            "moving_mean": m * state["moving_mean"] + (1 - m) * mean,
            "moving_variance": m * state["moving_variance"] + (1 - m) * var,
        }
    else:
        mean, var, new_state = state["moving_mean"], state["moving_variance"], state
    c = lambda v: _channels(v, x.ndim)
    y = (x - c(mean)) * c(jax.lax.rsqrt(var + cfg["epsilon"]))
    if "gamma" in p:
        y = y * c(p["gamma"])
    if "beta" in p:
        y = y + c(p["beta"])
    return y, new_state


_INIT_PARAMS = (
    Param("use_bias", True, "add a bias vector"),
    Param("kernel_initializer", "glorot_uniform", "initializer of the kernel", per_trial=True,
          check=Name("initializer")),
    Param("bias_initializer", "zeros", "initializer of the bias", per_trial=True, check=Name("initializer")),
)
_ACTIVATION = Param("activation", "linear", "activation (per trial, except an output layer's)", per_trial=True,
                    check=Name("activation", none="linear"))
_PADDING = Param("padding", "valid", "'valid' or 'same'", check=OneOf("valid", "same"))

LAYERS.add(Entry(
    "dense", LayerType("Dense", lambda c, s: (c["units"],), _stateless(_dense_apply), _dense_init,
                       choices=("activation",), param_shapes=_dense_shapes),
    "fully connected layer: activation(x @ kernel + bias)",
    (Param("units", None, "number of output units", check=POSITIVE_INT), _ACTIVATION, *_INIT_PARAMS),
))
LAYERS.add(Entry(
    "conv2d", LayerType("Conv2D", _conv_shape, _stateless(_conv_apply), _conv_init, choices=("activation",),
                        param_shapes=_conv_shapes),
    "2-D convolution over NHWC images (kernel HWIO)",
    (Param("filters", None, "number of filters", check=POSITIVE_INT),
     Param("kernel_size", 3, "int or [h, w]", check=Pair()),
     Param("strides", 1, "int or [h, w]", check=Pair()), _PADDING, _ACTIVATION, *_INIT_PARAMS),
))
_POOL_PARAMS = (Param("pool_size", 2, "int or [h, w]", check=Pair()),
                Param("strides", None, "default: pool_size", check=Pair(none_ok=True)), _PADDING)
LAYERS.add(Entry(
    "max_pooling2d",
    LayerType("MaxPooling2D", _pool_shape,
              _stateless(lambda c, p, x, hp: ops.max_pool2d(x, c["pool_size"], c["strides"], c["padding"]))),
    "max over pool windows", _POOL_PARAMS, aliases=("maxpooling2d", "max_pool2d"), meta={"finish": _pool_strides},
))
LAYERS.add(Entry(
    "average_pooling2d",
    LayerType("AveragePooling2D", _pool_shape,
              _stateless(lambda c, p, x, hp: ops.avg_pool2d(x, c["pool_size"], c["strides"], c["padding"]))),
    "mean over pool windows", _POOL_PARAMS, aliases=("averagepooling2d", "avg_pool2d"), meta={"finish": _pool_strides},
))
LAYERS.add(Entry(
    "flatten", LayerType("Flatten", lambda c, s: (prod(s),), _stateless(lambda c, p, x, hp: x.reshape(x.shape[0], -1))),
    "flatten all but the batch axis", (),
))
LAYERS.add(Entry(
    "dropout", LayerType("Dropout", lambda c, s: s, _dropout_apply, needs_rng=True),
    "inverted dropout while training (the rate can differ between trials of one group)",
    (Param("rate", 0.5, "fraction of units dropped", per_trial=True, check=UNIT_OPEN_RIGHT),),
))
LAYERS.add(Entry(
    "batch_normalization", LayerType("BatchNormalization", lambda c, s: s, _bn_apply, _bn_init,
                                     init_state=_bn_init_state, param_shapes=_bn_shapes,
                                     state_shapes=_bn_state_shapes),
    "normalise over the batch (moving statistics for evaluation)",
    (Param("momentum", 0.99, "moving-average momentum", check=UNIT_OPEN_RIGHT),
     Param("epsilon", 1e-3, "variance epsilon", check=POSITIVE),
     Param("center", True, "learn beta"), Param("scale", True, "learn gamma")),
    aliases=("batchnormalization",),
))
LAYERS.add(Entry(
    "activation", LayerType("Activation", lambda c, s: s, _stateless(lambda c, p, x, hp: activate(c, hp, x)),
                            choices=("activation",)),
    "apply an activation function", (_ACTIVATION,),
))

__all__ = ["LAYERS", "LayerType", "UnknownNameError", "activate"]
