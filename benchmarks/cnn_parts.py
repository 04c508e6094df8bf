"""W5's step in parts (issue 10): milliseconds per step of the seed CNNs' pieces at batch 32,
each a jitted ``lax.scan`` over S different batches (so XLA cannot hoist the body),
interleaved, medians of REPS rounds of wall time *and* of process CPU time (user + system of
every thread: less sensitive to other jobs on a shared machine than wall time).

Usage: ``[ONLY=conv_shifted,relu_pool_reshape] [REPS=7] [S=50] .venv/bin/python benchmarks/cnn_parts.py``

* ``conv_<impl>``: Conv2D(28, 3x3) on 28x28x1 (seed-004 CNN, W5), forward + gradient w.r.t.
  kernel and bias; ``conv_xla_nchw``: XLA's conv with the data transposed to NCHW/OIHW;
* ``conv2_<impl>``: seed003-cnn's second conv, 13x13x32 -> 64 filters 3x3 valid, gradients
  w.r.t. input and kernel (loss: the sum of squares, so the input gradient is not constant);
* ``vconv_<impl>``: ``conv_<impl>`` vmapped over T=3 trials (own data and kernels, as a group
  trains): XLA's batching rule turns the "xla" conv into one conv with ``feature_group_count=3``;
* ``relu_pool_<impl>``: ReLU + max-pool 2x2 of a (32, 26, 26, 28) activation, input gradient
  (``reshape``/``shifted``: first-max routing, as Keras; ``oldreshape``: ``jnp.max`` over the
  6-D reshape, which splits a tied window's gradient: sweeplab before 2026-12-01b);
* ``relu_only``: the ReLU alone.
"""
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sweeplab.models import ops

S = int(os.environ.get("S", 50))
REPS = int(os.environ.get("REPS", 7))
T = 3
rng = np.random.default_rng(0)
X = jnp.asarray(rng.random((S, 32, 28, 28, 1), np.float32))
XT = jnp.asarray(rng.random((S, T, 32, 28, 28, 1), np.float32))
X2 = jnp.asarray(rng.random((S, 32, 13, 13, 32), np.float32))
H = jnp.asarray(rng.standard_normal((S, 32, 26, 26, 28), np.float32))
R26 = jnp.asarray(rng.random((32, 26, 26, 28), np.float32))
R11 = jnp.asarray(rng.random((32, 11, 11, 64), np.float32))
R13 = jnp.asarray(rng.random((32, 13, 13, 28), np.float32))
w = jnp.asarray(rng.standard_normal((3, 3, 1, 28), np.float32))
wT = jnp.asarray(rng.standard_normal((T, 3, 3, 1, 28), np.float32))
w2 = jnp.asarray(rng.standard_normal((3, 3, 32, 64), np.float32) / 20)
b = jnp.zeros((28,), jnp.float32)


def conv_nchw(x, w, b):
    y = lax.conv_general_dilated(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), (1, 1), "VALID",
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y.transpose(0, 2, 3, 1) + b.reshape(1, 1, 1, -1)


def conv_fn(impl):
    return conv_nchw if impl == "xla_nchw" else (lambda x, w, b: ops.conv2d(x, w, b, impl=impl))


def conv_only(impl):
    f = conv_fn(impl)

    def run():
        def st(c, x):
            g = jax.grad(lambda w, b: jnp.sum(f(x, w, b) * R26), argnums=(0, 1))(w, b)
            return c + jnp.sum(g[0]) + jnp.sum(g[1]), None
        return lax.scan(st, 0.0, X)[0]
    return run


def conv2_only(impl):
    f = conv_fn(impl)

    def run():
        def st(c, x):
            # the cotangent depends on x (a constant one lets XLA fold the input gradient away)
            g = jax.grad(lambda x, w: jnp.sum(f(x, w, jnp.zeros(64)) ** 2), argnums=(0, 1))(x, w2)
            return c + jnp.sum(g[0]) + jnp.sum(g[1]), None
        return lax.scan(st, 0.0, X2)[0]
    return run


def vconv(impl):
    f = conv_fn(impl)

    def one(x, w):
        return jax.grad(lambda w, b: jnp.sum(f(x, w, b) * R26), argnums=(0, 1))(w, b)

    def run():
        def st(c, x):
            g = jax.vmap(one)(x, wT)
            return c + jnp.sum(g[0]) + jnp.sum(g[1]), None
        return lax.scan(st, 0.0, XT)[0]
    return run


def pool_only(impl):
    def pool(h):
        if impl == "oldreshape":  # jnp.max's rule: a tied window's gradient split equally
            return jnp.max(ops._reshape_windows(h, (2, 2), 13, 13), axis=(2, 4))
        return ops.max_pool2d(h, 2, impl=impl)

    def run():
        def st(c, h):
            g = jax.grad(lambda h: jnp.sum(pool(jax.nn.relu(h)) * R13))(h)
            return c + jnp.sum(g), None
        return lax.scan(st, 0.0, H)[0]
    return run


def relu_only():
    def st(c, h):
        g = jax.grad(lambda h: jnp.sum(jax.nn.relu(h) * R26))(h)
        return c + jnp.sum(g), None
    return lax.scan(st, 0.0, H)[0]


fs = {**{f"conv_{i}": conv_only(i) for i in ("shifted", "patches", "xla", "xla_nchw")},
      **{f"conv2_{i}": conv2_only(i) for i in ("patches", "shifted", "xla", "xla_nchw")},
      **{f"vconv_{i}": vconv(i) for i in ("shifted", "patches", "xla")},
      **{f"relu_pool_{i}": pool_only(i) for i in ("reshape", "shifted", "oldreshape", "xla")},
      "relu_only": relu_only}
only = os.environ.get("ONLY")
if only:
    fs = {k: v for k, v in fs.items() if k in only.split(",")}
fs = {k: jax.jit(f) for k, f in fs.items()}
for f in fs.values():
    jax.block_until_ready(f())
wall = {k: [] for k in fs}
cpu = {k: [] for k in fs}
load0 = os.getloadavg()
for _ in range(REPS):
    for k, f in fs.items():
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(f())
        wall[k].append(time.perf_counter() - t0)
        cpu[k].append(time.process_time() - c0)
print(f"load {load0} -> {os.getloadavg()}, S={S} steps per call, {REPS} rounds; ms per step, median")
print(f"{'part':22s} {'wall':>8s} {'cpu':>8s}")
for k in fs:
    print(f"{k:22s} {statistics.median(wall[k]) / S * 1e3:8.3f} {statistics.median(cpu[k]) / S * 1e3:8.3f}")
