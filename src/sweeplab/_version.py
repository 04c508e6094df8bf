"""The installed sweeplab's version, read from the package metadata (``pyproject.toml``).

Modules that record the version (the store, the report) read it here rather
than importing the package root.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as _dist_version


@lru_cache(maxsize=1)
def version() -> str:
    """``0.1.0``; ``unknown`` for a source tree that is not installed."""
    try:
        return _dist_version("sweeplab")
    except PackageNotFoundError:
        return "unknown"
