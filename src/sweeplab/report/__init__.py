"""Reports: figures, tables and one self-contained HTML file from a run.

``write_report(run_dir)`` writes into the run directory ``report.html``,
``report.md``, ``figures/*.png|svg`` and ``tables/*.csv|tex``. Heavy
modules (matplotlib, jinja2) are imported only when a report is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["write_report", "ANALYSES"]

ANALYSES = ("best", "tables", "top", "comparison", "effects", "curves", "heatmap",
            "history", "model", "confusion", "regression", "f1", "pr_curve", "misclassified", "gradients",
            "filters", "feature_maps", "regions")


def write_report(
    run_dir: str | os.PathLike,
    *,
    analyses: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    top_n: int | None = None,
    run=None,
) -> Path:
    """Write the report of a run into its directory.

    Args:
        run_dir: the run directory (holds the results store).
        analyses: which analyses to include (names in :data:`ANALYSES`);
            default: the study's ``[report] analyses``, else chosen from the data.
        metrics: metrics to tabulate and rank by (``accuracy`` or ``test_accuracy``);
            default: the study's ``[report] metrics``, else all recorded.
        top_n: rows of the configuration and comparison tables (default
            ``[report] top_n``, else 20).
        run: an already-open ``sweeplab.store.load(run_dir)`` result (optional).

    Returns:
        Path of ``report.html``.

    Raises:
        ValueError: an unknown analysis name (the message lists accepted ones).
        sweeplab.store.StoreError: ``run_dir`` holds no results store.
    """
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report
    from sweeplab.report.render import write_all

    rd = RunData.from_run(run if run is not None else run_dir)
    report = build_report(rd, analyses=analyses, metrics=metrics, top_n=top_n)
    return write_all(report, Path(run_dir))
