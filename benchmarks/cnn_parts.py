"""W5's step in parts (issue 10): milliseconds per step of the seed CNN's pieces at batch 32,
each a jitted ``lax.scan`` over 100 different batches (so XLA cannot hoist the body), interleaved,
medians of 5.

Usage: ``[ONLY=conv_shifted,relu_pool_reshape] .venv/bin/python benchmarks/cnn_parts.py``

* ``conv_<impl>``: Conv2D(28, 3x3) on 28x28x1, forward + gradient w.r.t. kernel and bias;
* ``relu_pool_<impl>``: ReLU + max-pool 2x2 of a (32, 26, 26, 28) activation, input gradient
  (``oldreshape``: ``jnp.max`` over the 6-D reshape written inline, the "reshape" impl);
* ``relu_only``: the ReLU alone.
"""
import os, sys, time, statistics
import jax, jax.numpy as jnp, numpy as np
from sweeplab.models import ops
S = 100
rng = np.random.default_rng(0)
X = jnp.asarray(rng.random((S, 32, 28, 28, 1), np.float32))
H = jnp.asarray(rng.standard_normal((S, 32, 26, 26, 28), np.float32))
R26 = jnp.asarray(rng.random((32, 26, 26, 28), np.float32)); R13 = jnp.asarray(rng.random((32, 13, 13, 28), np.float32))
w = jnp.asarray(rng.standard_normal((3, 3, 1, 28), np.float32)); b = jnp.zeros((28,), jnp.float32)
def conv_only(impl):
    def f(w, b):
        def st(c, x):
            g = jax.grad(lambda w, b: jnp.sum(ops.conv2d(x, w, b, impl=impl) * R26), argnums=(0, 1))(w, b)
            return c + jnp.sum(g[0]) + jnp.sum(g[1]), None
        return jax.lax.scan(st, 0.0, X)[0]
    return f
def pool_only(impl):
    def f(w, b):
        def st(c, h):
            g = jax.grad(lambda h: jnp.sum(ops.max_pool2d(jax.nn.relu(h), 2, impl=impl) * R13))(h)
            return c + jnp.sum(g), None
        return jax.lax.scan(st, 0.0, H)[0]
    return f
def pool_oldreshape(w, b):
    def st(c, h):
        g = jax.grad(lambda h: jnp.sum(jnp.max(ops._reshape_windows(jax.nn.relu(h), (2, 2), 13, 13), axis=(2, 4)) * R13))(h)
        return c + jnp.sum(g), None
    return jax.lax.scan(st, 0.0, H)[0]
def relu_only(w, b):
    def st(c, h):
        g = jax.grad(lambda h: jnp.sum(jax.nn.relu(h) * R26))(h)
        return c + jnp.sum(g), None
    return jax.lax.scan(st, 0.0, H)[0]
fs = {"conv_shifted": conv_only("shifted"), "conv_patches": conv_only("patches"), "conv_xla": conv_only("xla"),
      "relu_pool_reshape": pool_only("reshape"), "relu_pool_shifted": pool_only("shifted"), "relu_only": relu_only, "relu_pool_oldreshape": pool_oldreshape}
only = os.environ.get("ONLY")
if only: fs = {k: v for k, v in fs.items() if k in only.split(",")}
fs = {k: jax.jit(f) for k, f in fs.items()}
for f in fs.values(): jax.block_until_ready(f(w, b))
t = {k: [] for k in fs}
for _ in range(5):
    for k, f in fs.items():
        t0 = time.perf_counter(); jax.block_until_ready(f(w, b)); t[k].append(time.perf_counter() - t0)
print("load", os.getloadavg(), {k: round(statistics.median(v) / S * 1e3, 3) for k, v in t.items()}, "ms/step")
