"""The compiled programs of one group: init, one training epoch, evaluation.

One epoch of one group is one call: every trial shuffles its own training
indices with its own key, all batches run in one ``lax.scan``, and the
training metrics (loss sums, confusion matrices, regression sums, gradient
norms) accumulate inside. Trials are vmapped; the data is shared on the
device and gathered per batch, so many trials cost little extra memory.

The last partial batch is kept as a smaller batch, as Keras does: batches
are padded to the batch size with masked rows, and the loss of a batch is
the mean over its real rows only, so the padded rows change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from math import ceil

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sweeplab.models.model import Model
from sweeplab.vocab.activations import ACTIVATIONS
from sweeplab.vocab.losses import LOSSES
from sweeplab.vocab.metrics import confusion_matrix, predict_classes
from sweeplab.vocab.optimizers import make_optimizer, set_hyperparams


@dataclass(frozen=True)
class ProgramSpec:
    """The structural settings of a group (everything a recompile depends on)."""

    batch_size: int
    n_train: int
    shuffle: bool
    gradient_norms: bool
    eval_batch_size: int
    affine: tuple[float, float]
    optimizer: str
    static_opt_params: tuple  # ((name, value), ...) for non-per-trial optimizer params


def _head_target(head, y):
    target = LOSSES.get(head.loss).meta.get("target")
    if target == "onehot":
        return jax.nn.one_hot(y, head.units)
    return y


class GroupProgram:
    """Compiled init/epoch/eval functions for one model structure."""

    def __init__(self, model: Model, spec: ProgramSpec):
        self.model = model
        self.spec = spec
        self.opt = make_optimizer(spec.optimizer, dict(spec.static_opt_params))
        self.steps = ceil(spec.n_train / spec.batch_size)
        self.init = jax.jit(jax.vmap(self._init_one))
        self.epoch = jax.jit(jax.vmap(self._epoch_one, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None)),
                             donate_argnums=(0, 1, 2))
        self.evaluate = jax.jit(jax.vmap(self._eval_one, in_axes=(0, 0, 0, None, None)))
        self.predict = jax.jit(jax.vmap(partial(self._eval_one, with_outputs=True), in_axes=(0, 0, 0, None, None)))

    # ---------------------------------------------------------------- pieces
    def _x(self, x):
        a, b = self.spec.affine
        x = x.astype(jnp.float32)
        if a != 1.0:
            x = x * a
        if b != 0.0:
            x = x + b
        return x

    def _init_one(self, key, hp):
        params, state = self.model.init(key)
        opt_state = self.opt.init(params)
        opt_state = set_hyperparams(opt_state, hp["opt"])
        return params, state, opt_state

    def _head_stats(self, head, z, y, mask):
        """Per-head loss sum and metric sums for a (masked) batch."""
        loss_fn = LOSSES.get(head.loss).obj
        per_ex = loss_fn(z, _head_target(head, y), head.activation)
        stats = {"loss": jnp.sum(per_ex * mask)}
        z = jax.lax.stop_gradient(z)
        if head.kind == "regression":
            pred = ACTIVATIONS.get(head.activation).obj(z)
            pred = pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred
            err = (pred - y.astype(jnp.float32)) * (mask if pred.ndim == 1 else mask[:, None])
            stats["abs"] = jnp.sum(jnp.abs(err))
            stats["sq"] = jnp.sum(err * err)
        else:
            n_classes = head.n_classes or 2
            pred = predict_classes(z, head.activation, n_classes)
            stats["cm"] = confusion_matrix(y.astype(jnp.int32), pred, n_classes, mask)
        return per_ex, stats

    def _loss(self, params, state, x, ys, mask, rates, key, train):
        outs, new_state = self.model.apply(params, state, x, rates=rates, key=key, train=train)
        n = jnp.maximum(jnp.sum(mask), 1.0)
        total, stats = 0.0, {}
        for head in self.model.heads:
            per_ex, st = self._head_stats(head, outs[head.name], ys[head.name], mask)
            total = total + head.loss_weight * jnp.sum(per_ex * mask) / n
            stats[head.name] = st
        return total, (new_state, stats, outs)

    # ---------------------------------------------------------------- training
    def _epoch_one(self, params, state, opt_state, key, active, rates, idx, X, Y):
        bs, steps = self.spec.batch_size, self.steps
        n = idx.shape[0]
        key, k_perm, k_steps = jax.random.split(key, 3)
        order = idx[jax.random.permutation(k_perm, n)] if self.spec.shuffle else idx
        pad = steps * bs - n
        order = jnp.concatenate([order, jnp.zeros((pad,), order.dtype)]).reshape(steps, bs)
        mask = jnp.concatenate([jnp.ones((n,), jnp.float32), jnp.zeros((pad,), jnp.float32)]).reshape(steps, bs)
        step_keys = jax.random.split(k_steps, steps)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def step(carry, inp):
            params, state, opt_state, ok, acc = carry
            b_idx, b_mask, b_key = inp
            xb = self._x(X[b_idx])
            yb = {h: Y[h][b_idx] for h in Y}
            (loss, (new_state, stats, _)), grads = grad_fn(params, state, xb, yb, b_mask, rates, b_key, True)
            updates, new_opt = self.opt.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            finite = jnp.isfinite(loss)
            go = active & ok & finite
            sel = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(go, a, b), new, old)
            params, state, opt_state = sel(new_params, params), sel(new_state, state), sel(new_opt, opt_state)
            acc = jax.tree_util.tree_map(jnp.add, acc, self._acc_terms(stats, grads))
            return (params, state, opt_state, ok & finite, acc), None

        acc0 = jax.tree_util.tree_map(jnp.zeros_like, jax.eval_shape(
            lambda: self._acc_terms(*self._shapes_for_acc(params, state, X, Y, rates))))
        carry = (params, state, opt_state, jnp.array(True), acc0)
        (params, state, opt_state, ok, acc), _ = jax.lax.scan(step, carry, (order, mask, step_keys))
        acc = dict(acc)
        acc["finite"] = ok
        return params, state, opt_state, key, acc

    def _shapes_for_acc(self, params, state, X, Y, rates):
        xb = self._x(X[: 2])
        yb = {h: Y[h][: 2] for h in Y}
        mask = jnp.ones((2,), jnp.float32)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)
        (_, (_, stats, _)), grads = grad_fn(params, state, xb, yb, mask, rates, jax.random.PRNGKey(0), True)
        return stats, grads

    def _acc_terms(self, stats, grads):
        terms = {"stats": stats}
        if self.spec.gradient_norms:
            terms["grad"] = {layer: {name: jnp.sqrt(jnp.sum(g * g)) for name, g in leaves.items()}
                             for layer, leaves in grads.items()}
        return terms

    # ---------------------------------------------------------------- evaluation
    def _eval_one(self, params, state, idx, X, Y, with_outputs=False):
        bs = min(self.spec.eval_batch_size, max(int(idx.shape[0]), 1))
        n = idx.shape[0]
        steps = ceil(n / bs)
        pad = steps * bs - n
        order = jnp.concatenate([idx, jnp.zeros((pad,), idx.dtype)]).reshape(steps, bs)
        mask = jnp.concatenate([jnp.ones((n,), jnp.float32), jnp.zeros((pad,), jnp.float32)]).reshape(steps, bs)

        def step(acc, inp):
            b_idx, b_mask = inp
            xb = self._x(X[b_idx])
            yb = {h: Y[h][b_idx] for h in Y}
            _, (_, stats, outs) = self._loss(params, state, xb, yb, b_mask, {}, jax.random.PRNGKey(0), False)
            acc = jax.tree_util.tree_map(jnp.add, acc, stats)
            proba = self.model.predict_proba(outs) if with_outputs else None
            return acc, proba

        shapes = jax.eval_shape(lambda: self._loss(params, state, self._x(X[:2]), {h: Y[h][:2] for h in Y},
                                                   jnp.ones((2,)), {}, jax.random.PRNGKey(0), False)[1][1])
        acc0 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        acc, proba = jax.lax.scan(step, acc0, (order, mask))
        if with_outputs:
            proba = {h: p.reshape((steps * bs,) + p.shape[2:])[:n] for h, p in proba.items()}
            return acc, proba
        return acc, None


def host(tree):
    """Fetch a pytree of device arrays to NumPy (one transfer)."""
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))
