"""Loss functions, by Keras name, computed from the head's pre-activation output.

Every ``Entry.obj`` is ``loss(z, y, activation, **params) -> (batch,)``:

* ``z``: the output layer's pre-activation values, shape (batch, units);
* ``y``: targets, in the form ``entry.meta["target"]`` names:
  ``"binary"`` float 0/1 of shape (batch,) or (batch, 1); ``"onehot"``
  (batch, C); ``"sparse"`` int (batch,); ``"regression"`` (batch,) or
  (batch, units);
* ``activation``: the output layer's activation name.

Cross-entropies with their natural output activation (sigmoid + binary,
softmax + (sparse) categorical) are computed from logits, which is exact and
stable where Keras's probability form is clipped. Any other activation is
applied first and the loss computed like Keras 3's backend (probabilities
clipped to [1e-7, 1 - 1e-7]); see keras/src/backend/jax/nn.py and
keras/src/losses/losses.py. Like Keras, a per-example loss is the mean over
the last axis (for binary and regression losses).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from sweeplab.vocab.activations import ACTIVATIONS
from sweeplab.vocab.params import POSITIVE, check_params
from sweeplab.vocab.registry import Param, Registry

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")

LOSSES = Registry("loss")

# Keras's backend.epsilon(), used to clip probabilities.
EPSILON = 1e-7

# Keras spellings accepted for the canonical names (keras/src/losses/__init__.py).
LOSS_ALIASES: dict[str, str] = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "huber_loss": "huber",
    "bce": "binary_crossentropy",
}


def _aliases(name: str) -> tuple[str, ...]:
    return tuple(a for a, c in LOSS_ALIASES.items() if c == name)


def _activate(z, activation: str):
    return ACTIVATIONS.get(activation).obj(z)


def _is(activation: str, name: str) -> bool:
    return ACTIVATIONS.canonical(activation) == name


def _like(y, z):
    """Targets given as (batch,) against a (batch, units) output: add the unit axis."""
    y = jnp.asarray(y, z.dtype)
    if y.ndim == z.ndim - 1:
        y = y[..., None]
    return y


@LOSSES.register(
    "binary_crossentropy", "-(y log p + (1-y) log(1-p)); exact from logits with sigmoid",
    aliases=_aliases("binary_crossentropy"),
    target="binary", kind="classification", logits_activation="sigmoid",
)
def binary_crossentropy(z, y, activation: str = "sigmoid"):
    y = _like(y, z)
    if _is(activation, "sigmoid"):
        # TF's sigmoid_cross_entropy_with_logits: max(z,0) - z y + log(1 + exp(-|z|)).
        per_unit = jnp.maximum(z, 0.0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
    else:
        p = jnp.clip(_activate(z, activation), EPSILON, 1.0 - EPSILON)
        per_unit = -(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))
    return jnp.mean(per_unit, axis=-1)


def _probabilities(z, activation: str):
    # Keras renormalises probabilities before clipping (backend categorical_crossentropy).
    p = _activate(z, activation)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    return jnp.clip(p, EPSILON, 1.0 - EPSILON)


@LOSSES.register(
    "categorical_crossentropy", "-sum(y log p) with one-hot y; exact from logits with softmax",
    aliases=_aliases("categorical_crossentropy"),
    target="onehot", kind="classification", logits_activation="softmax",
)
def categorical_crossentropy(z, y, activation: str = "softmax"):
    y = jnp.asarray(y, z.dtype)
    if _is(activation, "softmax"):
        log_p = jax.nn.log_softmax(z, axis=-1)
    else:
        log_p = jnp.log(_probabilities(z, activation))
    return -jnp.sum(y * log_p, axis=-1)


@LOSSES.register(
    "sparse_categorical_crossentropy", "-log p[y] with integer y; exact from logits with softmax",
    aliases=_aliases("sparse_categorical_crossentropy"),
    target="sparse", kind="classification", logits_activation="softmax",
)
def sparse_categorical_crossentropy(z, y, activation: str = "softmax"):
    if _is(activation, "softmax"):
        log_p = jax.nn.log_softmax(z, axis=-1)
    else:
        log_p = jnp.log(_probabilities(z, activation))
    idx = jnp.asarray(y).astype(jnp.int32).reshape(z.shape[:-1] + (1,))
    return -jnp.take_along_axis(log_p, idx, axis=-1)[..., 0]


@LOSSES.register("mse", "mean over outputs of (y - p)^2", aliases=_aliases("mse"),
                 target="regression", kind="regression")
def mse(z, y, activation: str = "linear"):
    p = _activate(z, activation)
    return jnp.mean(jnp.square(_like(y, p) - p), axis=-1)


@LOSSES.register("mae", "mean over outputs of |y - p|", aliases=_aliases("mae"),
                 target="regression", kind="regression")
def mae(z, y, activation: str = "linear"):
    p = _activate(z, activation)
    return jnp.mean(jnp.abs(_like(y, p) - p), axis=-1)


@LOSSES.register(
    "huber", "0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta), mean over outputs",
    params=(Param("delta", 1.0, "where the loss turns from quadratic to linear", check=POSITIVE),),
    aliases=_aliases("huber"), target="regression", kind="regression",
)
def huber(z, y, activation: str = "linear", delta: float = 1.0):
    # keras/src/losses/losses.py::huber
    p = _activate(z, activation)
    err = p - _like(y, p)
    abs_err = jnp.abs(err)
    per_unit = jnp.where(abs_err <= delta, 0.5 * jnp.square(err),
                         delta * abs_err - 0.5 * delta**2)
    return jnp.mean(per_unit, axis=-1)


def get_loss(name: str, params: dict[str, Any] | None = None) -> Callable[..., jax.Array]:
    """``loss(z, y, activation)`` for ``name`` with ``params`` bound and validated."""
    entry = LOSSES.get(name)
    if not params:
        return entry.obj
    return functools.partial(entry.obj, **check_params(LOSSES, name, params))
