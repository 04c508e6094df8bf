"""Activation functions, by Keras name, with Keras 3 definitions and defaults.

Every ``Entry.obj`` is ``fn(x, **params) -> array`` and is callable as
``fn(x)`` (all parameters have Keras's defaults). All are elementwise except
``softmax``, which normalises over the last axis like ``keras.activations.softmax``.
Use :func:`get_activation` to bind non-default parameters.

Reference: keras/src/activations/activations.py (Keras 3).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from sweeplab.vocab.params import NON_NEGATIVE, check_params
from sweeplab.vocab.registry import Param, Registry

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")

ACTIVATIONS = Registry("activation")

# Keras's SELU constants (keras/src/activations/activations.py::selu).
_SELU_ALPHA = 1.67326324235437728481704299
_SELU_SCALE = 1.05070098735548049341933498


@ACTIVATIONS.register("linear", "identity: x")
def linear(x):
    return x


@ACTIVATIONS.register("relu", "rectified linear unit: max(x, 0)")
def relu(x):
    return jax.nn.relu(x)


@ACTIVATIONS.register("sigmoid", "logistic: 1 / (1 + exp(-x))", range=(0.0, 1.0))
def sigmoid(x):
    return jax.nn.sigmoid(x)


@ACTIVATIONS.register("tanh", "hyperbolic tangent", range=(-1.0, 1.0))
def tanh(x):
    return jnp.tanh(x)


@ACTIVATIONS.register("softmax", "exp(x) / sum(exp(x)) over the last axis", range=(0.0, 1.0))
def softmax(x):
    return jax.nn.softmax(x, axis=-1)


@ACTIVATIONS.register(
    "elu", "exponential linear unit: x if x > 0 else alpha * (exp(x) - 1)",
    params=(Param("alpha", 1.0, "scale of the negative part", check=NON_NEGATIVE),),
)
def elu(x, alpha: float = 1.0):
    # expm1 on the clamped input: exact near 0 and no overflow for large x
    # in the branch that ``where`` discards (whose gradient would be nan).
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


@ACTIVATIONS.register("selu", "scaled ELU: scale * elu(x, alpha), Klambauer et al. 2017 constants")
def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


@ACTIVATIONS.register("softplus", "log(exp(x) + 1)")
def softplus(x):
    return jax.nn.softplus(x)


@ACTIVATIONS.register("softsign", "x / (|x| + 1)", range=(-1.0, 1.0))
def softsign(x):
    return x / (jnp.abs(x) + 1.0)


@ACTIVATIONS.register("hard_sigmoid", "piecewise-linear sigmoid (Keras 3): relu6(x + 3) / 6",
                      range=(0.0, 1.0))
def hard_sigmoid(x):
    # Keras 3 changed this from Keras 2's clip(0.2 x + 0.5, 0, 1) to relu6(x+3)/6.
    return jnp.clip(x + 3.0, 0.0, 6.0) / 6.0


@ACTIVATIONS.register("exponential", "exp(x)")
def exponential(x):
    return jnp.exp(x)


@ACTIVATIONS.register("swish", "x * sigmoid(x) (Ramachandran et al. 2017)", aliases=("silu",))
def swish(x):
    return x * jax.nn.sigmoid(x)


@ACTIVATIONS.register(
    "gelu", "Gaussian error linear unit: x * Phi(x) (exact erf form, Keras default)",
    params=(Param("approximate", False, "use the tanh approximation"),),
)
def gelu(x, approximate: bool = False):
    return jax.nn.gelu(x, approximate=approximate)


@ACTIVATIONS.register(
    "leaky_relu", "x if x > 0 else negative_slope * x (Keras 3 default slope 0.2)",
    params=(Param("negative_slope", 0.2, "slope for x < 0", check=NON_NEGATIVE),),
)
def leaky_relu(x, negative_slope: float = 0.2):
    return jnp.where(x >= 0, x, negative_slope * x)


@ACTIVATIONS.register("lecun_tanh", "LeCun 1998 scaled tanh: 1.7159 * tanh(2x/3) + 0.01 x")
def lecun_tanh(x):
    # Efficient BackProp (LeCun et al. 1998) sec. 4.4, plus a small linear term
    # that keeps the gradient away from 0 on saturation.
    return 1.7159 * jnp.tanh(2.0 * x / 3.0) + 0.01 * x


def get_activation(name: str, params: dict[str, Any] | None = None) -> Callable[[jax.Array], jax.Array]:
    """The activation ``name`` with ``params`` bound (validated, defaults filled).

    Raises:
        UnknownNameError: unknown activation.
        InvalidParamError: unknown parameter or bad value.
    """
    entry = ACTIVATIONS.get(name)
    if not params:
        return entry.obj
    values = check_params(ACTIVATIONS, name, params)
    return functools.partial(entry.obj, **values)
