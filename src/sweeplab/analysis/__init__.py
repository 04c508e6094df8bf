"""Analyses of a run: tables, statistics over seeds, classification metrics,
gradient flow, filters and decision regions.

Notebook use (the façade lives in :mod:`sweeplab.notebook`)::

    import sweeplab
    run = sweeplab.load("runs/my-study")
    run.table("train.batch_size")        # DataFrame, one row per value
    run.plot.learning_curves()           # matplotlib Figure

Submodules are imported lazily, so ``import sweeplab.analysis`` is cheap.
The notebook façade (``attach``, ``RunAnalysis``) sits above this package, in
:mod:`sweeplab.notebook`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunData": "rundata",
    "confusion_matrix": "classification",
    "normalize_confusion": "classification",
    "confusion_frame": "classification",
    "precision_recall_f1": "classification",
    "scores_from_confusion": "classification",
    "precision_recall_curve": "classification",
    "misclassified": "classification",
    "Scores": "classification",
    "aggregate": "stats",
    "welch": "stats",
    "compare_with_best": "stats",
    "axis_table": "tables",
    "config_table": "tables",
    "heatmap_grid": "tables",
    "best_sentence": "tables",
    "primary_metric": "tables",
    "format_table": "tables",
    "mean_curves": "curves",
    "trial_history": "curves",
    "gradient_flow": "curves",
    "parameter_summary": "model_view",
    "first_layer_filters": "model_view",
    "feature_maps": "model_view",
    "decision_regions": "model_view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"sweeplab.analysis.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'sweeplab.analysis' has no attribute {name!r}")
