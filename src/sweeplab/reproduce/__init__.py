"""Reproducing the seed reports: their published numbers as data, and the verdict rule.

* :mod:`sweeplab.reproduce.published`: ``published/seedNNN.toml`` (every number of
  each seed report, mapped onto a built-in study) and its strict loader;
* :mod:`sweeplab.reproduce.verdict`: published vs our seeds (agrees / differs /
  not comparable) and the side-by-side table of a run.
"""

from sweeplab.reproduce.published import Published, PublishedError, Row, load_published, published_files
from sweeplab.reproduce.verdict import Comparison, Verdict, compare, markdown_table, verdict

__all__ = ["Comparison", "Published", "PublishedError", "Row", "Verdict", "compare", "load_published",
           "markdown_table", "published_files", "verdict"]
