"""Moved: the notebook façade (``RunAnalysis``, ``Plots``) is :mod:`sweeplab.notebook`.

The label helpers it held are in :mod:`sweeplab.analysis.rundata`; they are
re-exported here for ``cli.py::_short_names`` until it imports them from there.
"""

from sweeplab.analysis.rundata import config_key, heads, short_names

__all__ = ["config_key", "heads", "short_names"]
