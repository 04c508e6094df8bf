"""Shared test settings: JAX on CPU, strict promotion, one persistent compilation cache per test session."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after JAX_PLATFORMS)

# As equinox's tests do: a silent broadcast (rank promotion) or a silent dtype
# widening in the vmapped code is an error in the tests, not a wrong number.
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
