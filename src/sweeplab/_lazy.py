"""Import a module on first use: validation and ``sweeplab --help``/``check`` stay free of JAX.

``jnp = lazy("jax.numpy")`` binds a stand-in; the first attribute read imports the real
module, and every attribute read once is then stored on the stand-in, so later reads are
plain attribute look-ups (no cost inside traced code). Only attribute access is
supported (``jnp.max``, ``jax.nn.relu``, ``optax.GradientTransformation``): code that
needs the module object itself imports it normally.
"""

from __future__ import annotations

import importlib
from typing import Any


class _Lazy:
    __slots__ = ("_lazy_name", "__dict__")

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # copy/pickle/inspect probes: not the module's
        value = getattr(importlib.import_module(self._lazy_name), attr)
        self.__dict__[attr] = value
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


def lazy(name: str) -> Any:
    """A stand-in for module ``name`` that imports it on the first attribute read."""
    return _Lazy(name)


__all__ = ["lazy"]
