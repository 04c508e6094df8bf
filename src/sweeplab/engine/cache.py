"""JAX's persistent compilation cache, so a rerun of a study does not compile again."""

from __future__ import annotations

import os
from pathlib import Path


def enable_compilation_cache(path: str | Path | None = None) -> None:
    """Cache compiled programs under ``$SWEEPLAB_JAX_CACHE`` or ``~/.cache/sweeplab/jax``.

    Set ``SWEEPLAB_JAX_CACHE=off`` to disable it.
    """
    import jax

    where = str(path or os.environ.get("SWEEPLAB_JAX_CACHE") or Path.home() / ".cache" / "sweeplab" / "jax")
    if where == "off":
        return
    try:
        Path(where).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", where)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    except (OSError, AttributeError):  # read-only home or an old jax: run without the cache
        pass
