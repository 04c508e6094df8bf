"""Reproducing the seed reports: their published numbers as data, and the verdict rule.

* :mod:`sweeplab.reproduce.published`: ``published/seedNNN.toml`` (every number of
  each seed report, mapped onto a built-in study) and its strict loader;
* :mod:`sweeplab.reproduce.verdict`: published vs our seeds (agrees / differs /
  not comparable) and the side-by-side table of a run.
"""

import importlib

# Eager: ``verdict`` is both a submodule and the function exported here; a lazy name would lose to
# the submodule as soon as anything imports it (reproduce.sizes does). The module is light.
from sweeplab.reproduce.verdict import Comparison, Verdict, compare, markdown_table, verdict

# Loaded on first use (PEP 562): ``sweeplab --help`` mounts ``reproduce.command`` and must not
# pay for the published files' loader and pydantic.
_WHERE = dict.fromkeys(("Published", "PublishedError", "Row", "load_published", "published_files"), "published")


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value

__all__ = ["Comparison", "Published", "PublishedError", "Row", "Verdict", "compare", "load_published",
           "markdown_table", "published_files", "verdict"]
