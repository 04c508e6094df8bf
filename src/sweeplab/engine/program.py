"""The compiled programs of one group: init, one training epoch, evaluation.

One epoch of one group is one call: every trial gets its own shuffled row
order (made on the host), all batches run in one ``lax.scan``, and the
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

from sweeplab.engine.hparams import HP
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
    whole_split: bool = False  # one batch of the whole training split: no shuffle, no gather


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
        self._opt_init = jax.jit(jax.vmap(self._opt_init_one))
        self.epoch = jax.jit(jax.vmap(self._epoch_one, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None)),
                             donate_argnums=(0, 1, 2))
        self.evaluate = jax.jit(jax.vmap(self._eval_one, in_axes=(0, 0, 0, None, None)))
        self.evaluate_idx = jax.jit(jax.vmap(self._eval_idx_one, in_axes=(0, 0, 0, 0, None, None)))
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

    def init(self, keys, hp: HP, models=None):
        """Parameters, model state and optimizer state of every trial, stacked.

        The parameters are drawn trial by trial outside ``jit``: JAX compiles each
        random initializer once per shape and reuses it, whereas one compiled
        program with every layer's random draws inlined took seconds to compile for
        deep networks. Each trial's draw depends only on its own key, and each
        trial may have its own initializers (``models``: one per trial, same structure).
        """
        models = models or [self.model] * len(keys)
        drawn = [m.init(k) for m, k in zip(models, keys)]
        stack = lambda *xs: jnp.stack(xs)
        params = jax.tree_util.tree_map(stack, *[p for p, _ in drawn])
        state = jax.tree_util.tree_map(stack, *[s for _, s in drawn])
        return params, state, self._opt_init(params, hp)

    def _opt_init_one(self, params, hp):
        return set_hyperparams(self.opt.init(params), hp.opt)

    def _head_stats(self, head, z, y, mask, *, with_cm=True):
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
        elif with_cm:
            n_classes = head.n_classes or 2
            pred = predict_classes(z, head.activation, n_classes)
            stats["cm"] = confusion_matrix(y.astype(jnp.int32), pred, n_classes, mask)
        return per_ex, stats

    def _loss(self, params, state, x, ys, mask, hp: HP, key, *, train: bool, with_cm: bool = True):
        outs, new_state = self.model.apply(params, state, x, hp=hp.layers, key=key, train=train)
        n = jnp.maximum(jnp.sum(mask), 1.0)
        total, stats = 0.0, {}
        for head in self.model.heads:
            per_ex, st = self._head_stats(head, outs[head.name], ys[head.name], mask, with_cm=with_cm)
            total = total + head.loss_weight * jnp.sum(per_ex * mask) / n
            stats[head.name] = st
        return total, (new_state, stats, outs)

    # ---------------------------------------------------------------- training
    def _epoch_one(self, params, state, opt_state, key, active, hp: HP, order, X, Y):
        """One epoch of one trial over its (host-shuffled, zero-padded) row order.

        Shuffling on the host (NumPy, per-trial generator) is far cheaper than
        ``jax.random.permutation`` on the CPU and identical under vmap. The
        confusion matrices are built once after the scan from the per-step
        predictions, and trials that are no longer active (stopped early or
        diverged before this epoch) keep their weights by one select at the end.
        """
        bs, steps, n = self.spec.batch_size, self.steps, self.spec.n_train
        order = order.reshape(steps, bs)
        mask = (jnp.arange(steps * bs) < n).astype(jnp.float32).reshape(steps, bs)
        if self.model.needs_rng:
            key, k_steps = jax.random.split(key)
            step_keys = jax.random.split(k_steps, steps)
        else:
            step_keys = jnp.zeros((steps,), jnp.uint32)  # no randomness inside the model
        grad_fn = jax.value_and_grad(partial(self._loss, train=True, with_cm=False), has_aux=True)
        cls_heads = [h for h in self.model.heads if h.kind != "regression"]
        start = (params, state, opt_state)

        def step(carry, inp):
            params, state, opt_state, ok, acc = carry
            b_idx, b_mask, b_key = inp
            if self.spec.whole_split:
                # Full batch: the batch mean is the same in any row order, so use the rows as stored.
                xb, yb = self._x(X), dict(Y)
            else:
                # A per-step gather measured faster on CPU than gathering the epoch at once.
                xb = self._x(X[b_idx])
                yb = {h: Y[h][b_idx] for h in Y}
            k = b_key if self.model.needs_rng else None
            (loss, (state, stats, outs)), grads = grad_fn(params, state, xb, yb, b_mask, hp, k)
            updates, opt_state = self.opt.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            preds = {h.name: predict_classes(jax.lax.stop_gradient(outs[h.name]), h.activation, h.n_classes or 2)
                     for h in cls_heads}
            acc = jax.tree_util.tree_map(jnp.add, acc, self._acc_terms(stats, grads))
            return (params, state, opt_state, ok & jnp.isfinite(loss), acc), preds

        acc0 = jax.tree_util.tree_map(jnp.zeros_like, jax.eval_shape(
            lambda: self._acc_terms(*self._shapes_for_acc(params, state, X, Y, hp))))
        carry = (params, state, opt_state, jnp.array(True), acc0)
        (params, state, opt_state, ok, acc), preds = jax.lax.scan(step, carry,
                                                                  (order, mask, step_keys))
        acc = dict(acc)
        stats = dict(acc["stats"])
        flat_order, flat_mask = order.reshape(-1), mask.reshape(-1)
        for h in cls_heads:
            y = (Y[h.name] if self.spec.whole_split else Y[h.name][flat_order]).astype(jnp.int32)
            cm = confusion_matrix(y, preds[h.name].reshape(-1), h.n_classes or 2, flat_mask)
            stats[h.name] = {**stats[h.name], "cm": cm}
        acc["stats"] = stats
        acc["finite"] = ok
        params, state, opt_state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(active, new, old), (params, state, opt_state), start)
        return params, state, opt_state, key, acc

    def _shapes_for_acc(self, params, state, X, Y, hp: HP):
        xb = self._x(X[: 2])
        yb = {h: Y[h][: 2] for h in Y}
        mask = jnp.ones((2,), jnp.float32)
        grad_fn = jax.value_and_grad(partial(self._loss, train=True, with_cm=False), has_aux=True)
        (_, (_, stats, _)), grads = grad_fn(params, state, xb, yb, mask, hp, jax.random.PRNGKey(0))
        return stats, grads

    def _acc_terms(self, stats, grads):
        terms = {"stats": stats}
        if self.spec.gradient_norms:
            terms["grad"] = {layer: {name: jnp.sqrt(jnp.sum(g * g)) for name, g in leaves.items()}
                             for layer, leaves in grads.items()}
        return terms

    # ---------------------------------------------------------------- evaluation
    def _eval_batches(self, params, state, hp: HP, n, batch, *, with_outputs: bool):
        """Scan over ``n`` rows in batches of ``batch(i) -> (x, ys, mask)``; sums and outputs."""
        bs = min(self.spec.eval_batch_size, n)
        steps = ceil(n / bs)

        def step(acc, i):
            xb, yb, b_mask = batch(i, bs)
            _, (_, stats, outs) = self._loss(params, state, self._x(xb), yb, b_mask, hp, None, train=False)
            acc = jax.tree_util.tree_map(jnp.add, acc, stats)
            return acc, (self.model.predict_proba(outs) if with_outputs else None)

        def first_stats():
            xb, yb, b_mask = batch(0, bs)
            return self._loss(params, state, self._x(xb), yb, b_mask, hp, None, train=False)[1][1]

        shapes = jax.eval_shape(first_stats)
        acc0 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        acc, outs = jax.lax.scan(step, acc0, jnp.arange(steps))
        if with_outputs:
            # The last batch is shifted back to end at row n (see _eval_one); keep its new rows only.
            last_new = n - (steps - 1) * bs
            outs = {h: jnp.concatenate([o[:-1].reshape((-1,) + o.shape[2:]), o[-1][bs - last_new:]])
                    for h, o in outs.items()}
        return acc, outs

    def _eval_one(self, params, state, hp: HP, X, Y, *, with_outputs: bool = False):
        """Evaluate on a whole split stored contiguously (validation, test): slices, no gather."""
        n = X.shape[0]

        def batch(i, bs):
            # The last batch is shifted back to end at row n; rows seen before are masked out.
            start = jnp.minimum(i * bs, n - bs)
            rows = start + jnp.arange(bs)
            mask = (rows >= i * bs).astype(jnp.float32)
            take = lambda a: jax.lax.dynamic_slice_in_dim(a, start, bs)
            return take(X), {h: take(Y[h]) for h in Y}, mask

        return self._eval_batches(params, state, hp, n, batch, with_outputs=with_outputs)

    def _eval_idx_one(self, params, state, hp: HP, idx, X, Y):
        """Evaluate on rows ``idx`` of X (cross-validation folds)."""
        n = idx.shape[0]

        def batch(i, bs):
            start = jnp.minimum(i * bs, n - bs)
            rows = start + jnp.arange(bs)
            b_idx = jax.lax.dynamic_slice_in_dim(idx, start, bs)
            return X[b_idx], {h: Y[h][b_idx] for h in Y}, (rows >= i * bs).astype(jnp.float32)

        return self._eval_batches(params, state, hp, n, batch, with_outputs=False)


def host(tree):
    """Fetch a pytree of device arrays to NumPy (one transfer)."""
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))
