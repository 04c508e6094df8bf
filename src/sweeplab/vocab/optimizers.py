"""Optimizers, by Keras name, reproducing Keras 3's update rules as Optax transforms.

Each rule is written out here (not taken from an ``optax`` alias) because the
aliases differ from Keras in small ways that change results: Keras Adam adds
epsilon to ``sqrt(v)`` *before* bias correction ("epsilon hat"), Keras SGD
keeps ``lr`` inside the velocity, Keras RMSprop puts epsilon inside the sqrt,
Adagrad starts its accumulator at 0.1, Nadam uses a momentum-decay schedule,
and Optax has no FTRL. Each transform cites the Keras source it follows
(keras/src/optimizers/<name>.py, ``update_step``).

Conventions: transforms return *updates to add* to the parameters
(``optax.apply_updates``); the step counter ``t`` starts at 1 on the first
update (Keras's ``iterations + 1``).

:func:`make_optimizer` wraps the transform in :func:`optax.inject_hyperparams`
so every parameter marked ``per_trial`` lives in ``opt_state.hyperparams`` and
may be overwritten after ``init`` (also with traced values under ``vmap``) by
:func:`set_hyperparams`. The other parameters are structural (booleans) or
used only at ``init`` (``initial_accumulator_value``), so they are static.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from sweeplab.vocab.params import (NON_NEGATIVE, POSITIVE, UNIT, UNIT_OPEN_RIGHT,
                                   between, check_params, le)
from sweeplab.vocab.registry import Param, Registry

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")
optax = lazy("optax")

OPTIMIZERS = Registry("optimizer")


class KerasOptState(NamedTuple):
    """State of a Keras-rule transform.

    Attributes:
        count: number of updates done (int32 scalar).
        slots: per-parameter accumulators, name -> pytree like the params.
        scalars: optimizer-wide scalars (Nadam's momentum-schedule product).
    """

    count: jax.Array
    slots: dict[str, Any]
    scalars: dict[str, jax.Array]


LeafStep = Callable[..., "tuple[jax.Array, dict[str, jax.Array]]"]


def _keras_transform(name: str, leaf_step: LeafStep, slot_init: dict[str, float],
                     scalar_init: dict[str, float] | None = None,
                     scalar_step: Callable | None = None,
                     needs_params: bool = False) -> optax.GradientTransformation:
    """Build a transform from a per-leaf Keras ``update_step``.

    Args:
        name: optimizer name, for error messages.
        leaf_step: ``(g, w, slots, t, scalars) -> (update, new_slots)`` for one
            parameter array; ``slots`` maps slot name -> array, ``t`` is the
            1-based step as a float of ``g``'s dtype.
        slot_init: slot name -> initial fill value.
        scalar_init: optimizer-wide scalar name -> initial value.
        scalar_step: ``(scalars, t) -> scalars`` run once per update, before
            the leaves (like Keras's ``_backend_update_step`` override).
        needs_params: the rule reads the current weights (AdamW, FTRL).
    """

    def init(params):
        slots = {s: jax.tree.map(lambda p, v=v: jnp.full_like(p, v), params)
                 for s, v in slot_init.items()}
        dtype = optax.tree.dtype(params, "highest")
        scalars = {k: jnp.asarray(v, dtype) for k, v in (scalar_init or {}).items()}
        return KerasOptState(jnp.zeros([], jnp.int32), slots, scalars)

    def update(grads, state, params=None):
        if needs_params and params is None:
            raise ValueError(f"optimizer {name} needs params in update(grads, state, params)")
        treedef = jax.tree.structure(grads)
        g_leaves = treedef.flatten_up_to(grads)
        w_leaves = (treedef.flatten_up_to(params) if params is not None
                    else [None] * len(g_leaves))
        slot_leaves = {s: treedef.flatten_up_to(tree) for s, tree in state.slots.items()}
        t_int = state.count + 1
        scalars = state.scalars
        if scalar_step is not None:
            scalars = scalar_step(scalars, t_int.astype(optax.tree.dtype(grads, "highest")))
        outs = [
            leaf_step(g, w, {s: leaves[i] for s, leaves in slot_leaves.items()},
                      t_int.astype(g.dtype), scalars)
            for i, (g, w) in enumerate(zip(g_leaves, w_leaves))
        ]
        updates = treedef.unflatten([u for u, _ in outs])
        slots = {s: treedef.unflatten([new[s] for _, new in outs]) for s in state.slots}
        return updates, KerasOptState(optax.safe_increment(state.count), slots, scalars)

    return optax.GradientTransformation(init, update)


# --------------------------------------------------------------------------- rules


def sgd(learning_rate=0.01, momentum=0.0, nesterov=False):
    """keras/src/optimizers/sgd.py: v = momentum v - lr g; w += v
    (nesterov: w += momentum v - lr g). With momentum 0 this is w -= lr g."""

    def step(g, w, s, t, sc):
        v = momentum * s["velocity"] - learning_rate * g
        update = momentum * v - learning_rate * g if nesterov else v
        return update, {"velocity": v}

    return _keras_transform("sgd", step, {"velocity": 0.0})


def rmsprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    """keras/src/optimizers/rmsprop.py: v = rho v + (1-rho) g^2;
    inc = lr g / sqrt(v + eps) (centered: sqrt(v - a^2 + eps), a = rho a + (1-rho) g);
    mom = momentum mom + inc; w -= mom (mom == inc when momentum is 0)."""

    def step(g, w, s, t, sc):
        v = rho * s["velocity"] + (1.0 - rho) * jnp.square(g)
        new = {"velocity": v}
        if centered:
            a = rho * s["average_gradient"] + (1.0 - rho) * g
            new["average_gradient"] = a
            denominator = v - jnp.square(a) + epsilon
        else:
            denominator = v + epsilon
        inc = learning_rate * g / jnp.sqrt(denominator)
        # One code path for any momentum (it may be a per-trial tracer): with
        # momentum 0, mom == inc, which is Keras's momentum-free branch.
        new["momentum"] = momentum * s["momentum"] + inc
        return -new["momentum"], new

    slots = {"velocity": 0.0, "momentum": 0.0}
    if centered:
        slots["average_gradient"] = 0.0
    return _keras_transform("rmsprop", step, slots)


def adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    """keras/src/optimizers/adagrad.py: acc += g^2; w -= lr g / sqrt(acc + eps)."""

    def step(g, w, s, t, sc):
        acc = s["accumulator"] + jnp.square(g)
        return -learning_rate * g / jnp.sqrt(acc + epsilon), {"accumulator": acc}

    return _keras_transform("adagrad", step, {"accumulator": initial_accumulator_value})


def adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7):
    """keras/src/optimizers/adadelta.py: Eg2 = rho Eg2 + (1-rho) g^2;
    d = -sqrt(Ed2 + eps) g / sqrt(Eg2 + eps); Ed2 = rho Ed2 + (1-rho) d^2; w += lr d."""

    def step(g, w, s, t, sc):
        eg2 = rho * s["accumulated_grad"] + (1.0 - rho) * jnp.square(g)
        delta = -jnp.sqrt(s["accumulated_delta_var"] + epsilon) * g / jnp.sqrt(eg2 + epsilon)
        ed2 = rho * s["accumulated_delta_var"] + (1.0 - rho) * jnp.square(delta)
        return learning_rate * delta, {"accumulated_grad": eg2, "accumulated_delta_var": ed2}

    return _keras_transform("adadelta", step,
                            {"accumulated_grad": 0.0, "accumulated_delta_var": 0.0})


def _adam_step(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay):
    # keras/src/optimizers/adam.py: alpha = lr sqrt(1 - b2^t) / (1 - b1^t);
    # m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); (amsgrad: v = max(v_hat, v));
    # w -= alpha m / (sqrt(v) + eps). Epsilon is added before bias correction.
    # AdamW (base_optimizer._apply_weight_decay): w -= w wd lr first.
    def step(g, w, s, t, sc):
        alpha = learning_rate * jnp.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        m = s["momentum"] + (g - s["momentum"]) * (1.0 - beta_1)
        v = s["velocity"] + (jnp.square(g) - s["velocity"]) * (1.0 - beta_2)
        new = {"momentum": m, "velocity": v}
        if amsgrad:
            v = new["velocity_hat"] = jnp.maximum(s["velocity_hat"], v)
        update = -alpha * m / (jnp.sqrt(v) + epsilon)
        if weight_decay is not None:
            update = update - w * weight_decay * learning_rate
        return update, new

    return step


def _adam_slots(amsgrad: bool) -> dict[str, float]:
    slots = {"momentum": 0.0, "velocity": 0.0}
    if amsgrad:
        slots["velocity_hat"] = 0.0
    return slots


def adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    """keras/src/optimizers/adam.py (see ``_adam_step``)."""
    return _keras_transform(
        "adam", _adam_step(learning_rate, beta_1, beta_2, epsilon, amsgrad, None), _adam_slots(amsgrad))


def adamw(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
          epsilon=1e-7, amsgrad=False):
    """keras/src/optimizers/adamw.py: Adam plus decoupled decay w -= lr wd w."""
    return _keras_transform(
        "adamw", _adam_step(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay),
        _adam_slots(amsgrad), needs_params=True)


def adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """keras/src/optimizers/adamax.py: m += (g - m)(1 - b1); u = max(b2 u, |g|);
    w -= lr m / ((1 - b1^t)(u + eps))."""

    def step(g, w, s, t, sc):
        m = s["momentum"] + (g - s["momentum"]) * (1.0 - beta_1)
        u = jnp.maximum(beta_2 * s["norm"], jnp.abs(g))
        return -learning_rate * m / ((1.0 - beta_1**t) * (u + epsilon)), {"momentum": m, "norm": u}

    return _keras_transform("adamax", step, {"momentum": 0.0, "norm": 0.0})


def nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, schedule_decay=1.0):
    """keras/src/optimizers/nadam.py (Dozat 2016 with Keras 3's schedule):
    u_t = b1 (1 - 0.5 * 0.96^(sd t)); P_t = prod_{i<=t} u_i;
    m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t);
    v_hat = v / (1 - b2^t); w -= lr m_hat / (sqrt(v_hat) + eps).
    ``schedule_decay`` sd is 1 in Keras 3; Keras 2.x / tf.keras 2.x used 0.004
    (keras 2.3.1 keras/optimizers.py l. 687-690), a ~250x slower momentum warm-up."""

    def u(t):
        return beta_1 * (1.0 - 0.5 * 0.96**(schedule_decay * t))

    def scalar_step(sc, t):
        # Keras updates the product before any variable (_backend_update_step).
        return {"u_product": sc["u_product"] * u(t)}

    def step(g, w, s, t, sc):
        u_t, u_next = u(t), u(t + 1.0)
        p_t = sc["u_product"].astype(g.dtype)
        m = s["momentum"] + (g - s["momentum"]) * (1.0 - beta_1)
        v = s["velocity"] + (jnp.square(g) - s["velocity"]) * (1.0 - beta_2)
        m_hat = u_next * m / (1.0 - p_t * u_next) + (1.0 - u_t) * g / (1.0 - p_t)
        v_hat = v / (1.0 - beta_2**t)
        return -learning_rate * m_hat / (jnp.sqrt(v_hat) + epsilon), {"momentum": m, "velocity": v}

    return _keras_transform("nadam", step, {"momentum": 0.0, "velocity": 0.0},
                            scalar_init={"u_product": 1.0}, scalar_step=scalar_step)


def ftrl(learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
         l1_regularization_strength=0.0, l2_regularization_strength=0.0,
         l2_shrinkage_regularization_strength=0.0, beta=0.0):
    """keras/src/optimizers/ftrl.py (McMahan et al. 2013):
    n' = n + g^2; z += g + 2 l2s w - (n'^-p - n^-p)/lr w;
    w = (clip(z, -l1, l1) - z) / (n'^-p / lr + 2 (l2 + beta / (2 lr))), p = lr_power."""

    def power(x):
        # x ** -lr_power as exp(log(x) * -lr_power): XLA's CPU backend lowers ``power`` with a
        # traced exponent (per-trial) to a scalar libm call per element, ~5x slower than its
        # vectorised exp and log (benchmarks/README.md, FTRL); equal to float32 round-off.
        # x >= 0 here; x ** 0 == 1 also at x == 0, where the log form would give nan.
        e = -learning_rate_power
        return jnp.where(e == 0, jnp.ones_like(x), jnp.exp(jnp.log(x) * e))

    def step(g, w, s, t, sc):
        accum = s["accumulator"]
        new_accum = accum + jnp.square(g)
        grad = g + 2.0 * l2_shrinkage_regularization_strength * w
        new_pow = power(new_accum)
        sigma = (new_pow - power(accum)) / learning_rate
        linear = s["linear"] + grad - sigma * w
        l2 = l2_regularization_strength + beta / (2.0 * learning_rate)
        quadratic = new_pow / learning_rate + 2.0 * l2
        l1 = l1_regularization_strength
        new_w = (jnp.clip(linear, -l1, l1) - linear) / quadratic
        return new_w - w, {"accumulator": new_accum, "linear": linear}

    return _keras_transform("ftrl", step,
                            {"accumulator": initial_accumulator_value, "linear": 0.0},
                            needs_params=True)


def lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99):
    """keras/src/optimizers/lion.py (Chen et al. 2023):
    w -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g."""

    def step(g, w, s, t, sc):
        m = s["momentum"]
        update = -learning_rate * jnp.sign(beta_1 * m + (1.0 - beta_1) * g)
        return update, {"momentum": beta_2 * m + (1.0 - beta_2) * g}

    return _keras_transform("lion", step, {"momentum": 0.0})


# ------------------------------------------------------------------------ registry

_LR = "step size"
_EPS = "added for numerical stability"


def _lr(default: float) -> Param:
    return Param("learning_rate", default, _LR, per_trial=True, check=POSITIVE)


def _eps() -> Param:
    return Param("epsilon", 1e-7, _EPS, per_trial=True, check=NON_NEGATIVE)


def _adam_params(b2: float = 0.999, eps: bool = True) -> tuple[Param, ...]:
    out = (Param("beta_1", 0.9, "decay of the first-moment average", per_trial=True, check=UNIT_OPEN_RIGHT),
           Param("beta_2", b2, "decay of the second-moment average", per_trial=True, check=UNIT_OPEN_RIGHT))
    return out + ((_eps(),) if eps else ())


_AMSGRAD = Param("amsgrad", False, "use the AMSGrad max of second moments")
_INITIAL_ACC = Param("initial_accumulator_value", 0.1, "starting sum of squares", check=NON_NEGATIVE)

OPTIMIZERS.register(
    "sgd", "gradient descent with optional (Nesterov) momentum, Keras velocity form",
    params=(_lr(0.01),
            Param("momentum", 0.0, "velocity decay (0 = plain SGD)", per_trial=True, check=UNIT),
            Param("nesterov", False, "use Nesterov momentum")),
)(sgd)
OPTIMIZERS.register(
    "rmsprop", "divide by a running RMS of gradients; epsilon inside the sqrt",
    params=(_lr(0.001),
            Param("rho", 0.9, "decay of the squared-gradient average", per_trial=True, check=UNIT),
            Param("momentum", 0.0, "momentum of the increments", per_trial=True, check=UNIT),
            _eps(),
            Param("centered", False, "normalise by the estimated variance")),
)(rmsprop)
OPTIMIZERS.register(
    "adagrad", "per-parameter step lr / sqrt(sum of squared gradients)",
    params=(_lr(0.001), _INITIAL_ACC, _eps()),
)(adagrad)
OPTIMIZERS.register(
    "adadelta", "Adagrad variant with running averages of gradients and updates",
    params=(_lr(0.001), Param("rho", 0.95, "decay rate", per_trial=True, check=UNIT), _eps()),
)(adadelta)
OPTIMIZERS.register(
    "adam", "adaptive moments (Kingma & Ba 2014), Keras epsilon-hat form",
    params=(_lr(0.001),) + _adam_params() + (_AMSGRAD,),
)(adam)
OPTIMIZERS.register(
    "adamw", "Adam with decoupled weight decay w -= lr * weight_decay * w",
    params=(_lr(0.001),
            Param("weight_decay", 0.004, "decoupled decay rate", per_trial=True, check=NON_NEGATIVE))
    + _adam_params() + (_AMSGRAD,),
)(adamw)
OPTIMIZERS.register(
    "adamax", "Adam with the infinity norm in place of the second moment",
    params=(_lr(0.001),) + _adam_params(),
)(adamax)
OPTIMIZERS.register(
    "nadam", "Adam with Nesterov momentum and Keras's 0.96^t momentum schedule",
    params=(_lr(0.001),) + _adam_params()
    + (Param("schedule_decay", 1.0, "momentum schedule 0.96^(schedule_decay t): 1 in Keras 3, "
             "0.004 in Keras 2.x / tf.keras 2.x", check=POSITIVE),),
)(nadam)
OPTIMIZERS.register(
    "ftrl", "Follow The Regularized Leader (McMahan et al. 2013), Keras form",
    params=(_lr(0.001),
            Param("learning_rate_power", -0.5, "power of the accumulator (<= 0)", per_trial=True,
                  check=le(0)),
            _INITIAL_ACC,
            Param("l1_regularization_strength", 0.0, "L1 strength", per_trial=True, check=NON_NEGATIVE),
            Param("l2_regularization_strength", 0.0, "stabilising L2 strength", per_trial=True,
                  check=NON_NEGATIVE),
            Param("l2_shrinkage_regularization_strength", 0.0, "magnitude L2 penalty",
                  per_trial=True, check=NON_NEGATIVE),
            Param("beta", 0.0, "beta of the paper", per_trial=True, check=NON_NEGATIVE)),
)(ftrl)
OPTIMIZERS.register(
    "lion", "sign of interpolated momentum (Chen et al. 2023)",
    params=(_lr(0.001), Param("beta_1", 0.9, "interpolation of momentum and gradient",
                              per_trial=True, check=between(0, 1, lo_open=True)),
            Param("beta_2", 0.99, "decay of the momentum", per_trial=True, check=UNIT)),
)(lion)


# ------------------------------------------------------- defaults per Keras version

#: ``train.defaults``: the optimizer defaults of each Keras version, as overrides of the
#: registry's (Keras 3) defaults. Sources and the evidence for which report ran which:
#: docs/reproductions/keras-defaults.md (Keras 2.3.1 ``keras/optimizers.py``; tf.keras 2.4
#: ``optimizer_v2/*.py``; Keras 3.15 ``keras/src/optimizers/*.py``). Not followed (documented
#: there): Keras 2.x / tf.keras 2.x put Adagrad's and RMSprop's epsilon outside the sqrt
#: (``sqrt(acc) + eps``; Keras 3: ``sqrt(acc + eps)``), which only matters while the
#: accumulator is near 0; and standalone Keras 2.3 has no Ftrl (its row here is tf.keras's).
KERAS_DEFAULTS: dict[str, dict[str, dict[str, float]]] = {
    "keras3": {},
    "tf.keras2.4": {
        "nadam": {"schedule_decay": 0.004},
    },
    "keras2.3": {
        "adagrad": {"learning_rate": 0.01, "initial_accumulator_value": 0.0},
        "adadelta": {"learning_rate": 1.0},
        "adamax": {"learning_rate": 0.002},
        "nadam": {"learning_rate": 0.002, "schedule_decay": 0.004},
    },
}


def version_defaults(version: str, name: str) -> dict[str, float]:
    """Optimizer ``name``'s defaults under Keras ``version`` that differ from Keras 3's.

    Raises:
        ValueError: an unknown version (one line naming the accepted ones).
    """
    if version not in KERAS_DEFAULTS:
        raise ValueError(f"unknown Keras defaults {version!r}; accepted: {', '.join(KERAS_DEFAULTS)}")
    return dict(KERAS_DEFAULTS[version].get(OPTIMIZERS.canonical(name), {}))


# ------------------------------------------------------------------------- public


def per_trial_params(name: str) -> list[str]:
    """Names of the parameters of optimizer ``name`` that may vary per trial."""
    return [p.name for p in OPTIMIZERS.get(name).params if p.per_trial]


def make_optimizer(name: str, params: dict[str, Any] | None = None) -> optax.GradientTransformation:
    """The Keras optimizer ``name`` as an Optax transformation with injected hyperparams.

    Args:
        name: registry name or alias, e.g. ``"adam"``.
        params: overrides of Keras's defaults, e.g. ``{"learning_rate": 0.01}``.

    Returns:
        A transformation whose state keeps every per-trial parameter in
        ``state.hyperparams`` (see :func:`set_hyperparams`). ``update`` must be
        given ``params`` for adamw and ftrl.

    Raises:
        UnknownNameError, InvalidParamError (one-line message).
    """
    values = check_params(OPTIMIZERS, name, params)
    entry = OPTIMIZERS.get(name)
    static = [p.name for p in entry.params if not p.per_trial]
    return optax.inject_hyperparams(entry.obj, static_args=static)(**values)


def _is_inject_state(x: Any) -> bool:
    return hasattr(x, "hyperparams") and hasattr(x, "inner_state")


def set_hyperparams(opt_state: Any, values: dict[str, Any]) -> Any:
    """Return ``opt_state`` with per-trial hyperparameters replaced.

    Works on the state of :func:`make_optimizer` and on states of ``optax.chain``
    containing it. Values may be Python floats, arrays or tracers (e.g. one
    trial's learning rate inside ``jax.vmap``); they are cast to the stored
    dtype so the state keeps its structure (needed for ``lax.scan`` carries).

    Raises:
        ValueError: a name that is not a per-trial hyperparameter, or no
            injected-hyperparameter state inside ``opt_state``.
    """
    found = False

    def replace(state):
        nonlocal found
        if _is_inject_state(state):
            found = True
            unknown = sorted(set(values) - set(state.hyperparams))
            if unknown:
                raise ValueError(
                    f"cannot set hyperparameter(s) {', '.join(map(repr, unknown))}; "
                    f"per-trial hyperparameters: {', '.join(state.hyperparams)}")
            new = dict(state.hyperparams)
            for k, v in values.items():
                new[k] = jnp.asarray(v, dtype=jnp.asarray(state.hyperparams[k]).dtype)
            return state._replace(hyperparams=new)
        if isinstance(state, tuple) and not hasattr(state, "_fields"):
            return tuple(replace(s) for s in state)
        return state

    out = replace(opt_state)
    if not found:
        raise ValueError("set_hyperparams: opt_state has no injected hyperparameters "
                         "(was the optimizer built with make_optimizer?)")
    return out
