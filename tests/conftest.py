"""Shared test settings: JAX on CPU, one persistent compilation cache per test session."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
