"""Dropout's random numbers: ``jax.random``'s exact bits, computed faster on CPU.

JAX lowers its Threefry-2x32 hash on the CPU as a *rolled* loop (5 iterations of
a while loop, each a few passes over the whole array; see ``jax/_src/random/
threefry2x32.py``, ``_threefry2x32_cpu_lowering_rule``) to keep compile times
down; other backends get the unrolled hash. Inside a training step that loop
cost more than the step's matmuls: W4's two (128, 512) dropout masks took
1.5-2.0 s of a 469-step epoch against 0.3-0.5 s for the same hash written out
here, which XLA fuses into one elementwise pass (benchmarks/README.md, "MLP
path, session 2026-12-01b").

:func:`split` and :func:`bernoulli` return exactly what ``jax.random.split`` and
``jax.random.bernoulli`` return for a raw ``uint32[2]`` key under JAX's default
PRNG (``threefry2x32`` with ``jax_threefry_partitionable``, the default since
JAX 0.5): the same counters, the same hash, the same bits-to-float mapping, so
trained weights and stored results do not change. Any other setup (typed keys,
another ``jax_default_prng_impl``, the legacy non-partitionable counters, a
dtype other than float32) falls back to ``jax.random`` itself.
``tests/test_layers.py`` pins the equality bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, d: int):
    return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))


def threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash (20 rounds), unrolled: ``jax.random``'s ``threefry2x32_p``."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    a, b = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            a = a + b
            b = _rotl(b, r) ^ a
        a = a + ks[(i + 1) % 3]
        b = b + ks[(i + 2) % 3] + np.uint32(i + 1)
    return a, b


def _fast(key, n: int) -> bool:
    """True when ``key`` is a raw threefry key and jax.random would use the partitionable counters."""
    return (not jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.dtype == jnp.uint32
            and key.shape == (2,) and jax.config.jax_default_prng_impl == "threefry2x32"
            and bool(jax.config.jax_threefry_partitionable) and n < 2 ** 32)


def _hash_counters(key, shape):
    """``threefry2x32(key, (hi, lo) of iota(prod(shape)))`` shaped ``shape`` (prod < 2**32: hi = 0)."""
    n = int(np.prod(shape, dtype=np.int64))
    lo = lax.iota(np.uint32, n).reshape(shape)
    return threefry2x32(key[0], key[1], jnp.zeros(shape, jnp.uint32), lo)


def split(key, num: int = 2):
    """``jax.random.split(key, num)`` (same keys)."""
    if not _fast(key, num):
        return jax.random.split(key, num)
    a, b = _hash_counters(key, (num,))
    return jnp.stack([a, b], axis=1)


def bits(key, shape):
    """``jax.random.bits(key, shape)`` (uint32; same bits)."""
    shape = tuple(shape)
    if not _fast(key, int(np.prod(shape, dtype=np.int64))):
        return jax.random.bits(key, shape)
    a, b = _hash_counters(key, shape)
    return a ^ b


def bernoulli(key, p, shape):
    """``jax.random.bernoulli(key, p, shape)`` for a float32 ``p`` (scalar; may be traced)."""
    shape = tuple(shape)
    p = jnp.asarray(p)
    if p.dtype != jnp.float32 or p.ndim != 0 or not _fast(key, int(np.prod(shape, dtype=np.int64))):
        return jax.random.bernoulli(key, p, shape)
    # jax.random.uniform's mapping: 23 random mantissa bits under exponent 0 -> [1, 2), minus 1.
    mant = lax.shift_right_logical(bits(key, shape), np.uint32(32 - 23)) | np.uint32(0x3F800000)
    u = lax.max(np.float32(0.0), lax.bitcast_convert_type(mant, jnp.float32) - np.float32(1.0))
    return u < p
