"""Weight initializers, by Keras name, matching Keras 3's distributions.

:func:`make_initializer` returns ``init(key, shape, dtype=float32) -> Array``.

Why not ``jax.nn.initializers``: JAX's ``normal()`` has stddev 1e-2 and
``uniform()`` is [0, 1e-2), while Keras's RandomNormal is N(0, 0.05) and
RandomUniform is U(-0.05, 0.05); JAX's variance-scaling also computes fans for
conv kernels differently unless told the axes. Everything here follows
keras/src/initializers/random_initializers.py and constant_initializers.py.

Fans follow Keras's ``compute_fans``: a dense kernel is (in, out); a conv
kernel is (*spatial, in, out) (HWIO), with the receptive field multiplying
both fans: fan_in = kh*kw*cin, fan_out = kh*kw*cout.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from sweeplab.vocab.params import NON_NEGATIVE, POSITIVE, OneOf, check_params
from sweeplab.vocab.registry import Param, Registry

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")

Initializer = Callable[..., "jax.Array"]

INITIALIZERS = Registry("initializer")

# Keras (and TF) divide the target stddev by the stddev of a unit normal
# truncated to [-2, 2], so the *truncated* samples have the intended variance.
TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[float, float]:
    """Keras's ``compute_fans``: (fan_in, fan_out) of a kernel shape."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated(key, shape, dtype, mean, stddev):
    # Keras's truncated_normal: N(mean, stddev) re-drawn outside 2 stddev.
    return mean + stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def _zeros(**_):
    return lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype)


def _ones(**_):
    return lambda key, shape, dtype=jnp.float32: jnp.ones(shape, dtype)


def _constant(value: float = 0.0):
    return lambda key, shape, dtype=jnp.float32: jnp.full(shape, value, dtype)


def _random_normal(mean: float = 0.0, stddev: float = 0.05):
    def init(key, shape, dtype=jnp.float32):
        return mean + stddev * jax.random.normal(key, shape, dtype)
    return init


def _random_uniform(minval: float = -0.05, maxval: float = 0.05):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    return init


def _truncated_normal(mean: float = 0.0, stddev: float = 0.05):
    def init(key, shape, dtype=jnp.float32):
        return _truncated(key, shape, dtype, mean, stddev)
    return init


def _variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal"):
    """Keras VarianceScaling: variance = scale / fan (fan per ``mode``)."""

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out,
               "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "truncated_normal":
            stddev = math.sqrt(variance) / TRUNCATED_STDDEV_CORRECTION
            return _truncated(key, shape, dtype, 0.0, stddev)
        if distribution == "untruncated_normal":
            return math.sqrt(variance) * jax.random.normal(key, shape, dtype)
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


def _preset(scale: float, mode: str, distribution: str):
    return lambda: _variance_scaling(scale, mode, distribution)


def _orthogonal(gain: float = 1.0):
    """Keras Orthogonal: QR of a normal matrix, sign-fixed by diag(R)."""

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs a shape of rank >= 2, got {tuple(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        a = jax.random.normal(key, flat, jnp.float32)
        q, r = jnp.linalg.qr(a)
        # Multiplying by sign(diag(r)) makes the distribution uniform (Haar).
        q = q * jnp.sign(jnp.diag(r))[None, :]
        if rows < cols:
            q = q.T
        return (gain * q.reshape(shape)).astype(dtype)

    return init


def _identity(gain: float = 1.0):
    def init(key, shape, dtype=jnp.float32):
        if len(shape) != 2:
            raise ValueError(f"identity initializer needs a 2D shape, got {tuple(shape)}")
        return gain * jnp.eye(shape[0], shape[1], dtype=dtype)
    return init


def _add(name, factory, doc, params=(), aliases=(), cross_checks=()):
    INITIALIZERS.register(name, doc, params=params, aliases=aliases,
                          cross_checks=tuple(cross_checks))(factory)


_STDDEV = NON_NEGATIVE

_add("zeros", _zeros, "all zeros", aliases=("zero",))
_add("ones", _ones, "all ones", aliases=("one",))
_add("constant", _constant, "every weight = value", (Param("value", 0.0, "the constant"),))
_add("random_normal", _random_normal, "N(mean, stddev^2)",
     (Param("mean", 0.0, "mean"), Param("stddev", 0.05, "standard deviation", check=_STDDEV)),
     aliases=("normal",))
_add("random_uniform", _random_uniform, "U(minval, maxval)",
     (Param("minval", -0.05, "lower bound"), Param("maxval", 0.05, "upper bound")),
     aliases=("uniform",),
     cross_checks=[lambda p: "minval must be < maxval" if p["minval"] >= p["maxval"] else ""])
_add("truncated_normal", _truncated_normal, "N(mean, stddev^2) re-drawn beyond 2 stddev",
     (Param("mean", 0.0, "mean"), Param("stddev", 0.05, "stddev before truncation", check=_STDDEV)))
_add("variance_scaling", _variance_scaling,
     "variance scale/fan; truncated normal uses stddev sqrt(scale/fan)/0.8796",
     (Param("scale", 1.0, "variance multiplier", check=POSITIVE),
      Param("mode", "fan_in", "fan_in, fan_out or fan_avg", check=OneOf("fan_in", "fan_out", "fan_avg")),
      Param("distribution", "truncated_normal", "truncated_normal, untruncated_normal or uniform",
            check=OneOf("truncated_normal", "untruncated_normal", "uniform"))))
_add("glorot_normal", _preset(1.0, "fan_avg", "truncated_normal"),
     "truncated normal, stddev sqrt(2/(fan_in+fan_out)) (Glorot & Bengio 2010)")
_add("glorot_uniform", _preset(1.0, "fan_avg", "uniform"),
     "U(-l, l), l = sqrt(6/(fan_in+fan_out)) (Keras default kernel init)")
_add("he_normal", _preset(2.0, "fan_in", "truncated_normal"),
     "truncated normal, stddev sqrt(2/fan_in) (He et al. 2015)")
_add("he_uniform", _preset(2.0, "fan_in", "uniform"), "U(-l, l), l = sqrt(6/fan_in)")
_add("lecun_normal", _preset(1.0, "fan_in", "truncated_normal"),
     "truncated normal, stddev sqrt(1/fan_in) (LeCun 1998)")
_add("lecun_uniform", _preset(1.0, "fan_in", "uniform"), "U(-l, l), l = sqrt(3/fan_in)")
_add("orthogonal", _orthogonal, "gain * random orthogonal matrix (Saxe et al. 2014)",
     (Param("gain", 1.0, "multiplier"),))
_add("identity", _identity, "gain * identity matrix (2D kernels only)",
     (Param("gain", 1.0, "multiplier"),))


def make_initializer(name: str, params: dict[str, Any] | None = None) -> Initializer:
    """Build the initializer ``name`` with ``params`` (Keras defaults for the rest).

    Args:
        name: registry name or alias, e.g. ``"glorot_uniform"``.
        params: e.g. ``{"stddev": 0.1}``.

    Returns:
        ``init(key, shape, dtype=jnp.float32) -> jax.Array``.

    Raises:
        UnknownNameError, InvalidParamError.
    """
    values = check_params(INITIALIZERS, name, params)
    return INITIALIZERS.get(name).obj(**values)
