"""Reports: figures, tables and one self-contained HTML file from a run.

``write_report(run_dir)`` writes into the run directory ``report.html``,
``report.md``, ``figures/*.png|svg`` and ``tables/*.csv|tex``. Heavy
modules (matplotlib, jinja2) are imported only when a report is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from sweeplab.vocab.analyses import ANALYSES as _TABLE

__all__ = ["write_report", "ANALYSES"]

ANALYSES = tuple(_TABLE.names())  # declared in sweeplab.vocab.analyses


def write_report(
    run_dir: str | os.PathLike,
    *,
    analyses: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    top_n: int | None = None,
    run=None,
    force: bool = False,
    svg: bool = False,
) -> Path:
    """Write the report of a run into its directory.

    The report is rebuilt only when the results (or these options, or the
    sweeplab version) changed since the last build: a fingerprint of the
    store is kept in ``.report-fingerprint`` next to ``report.html``, and an
    up-to-date report is returned as it is (so ``sweeplab run`` with nothing
    to train costs milliseconds here). ``force=True`` always rebuilds (what
    ``sweeplab report`` does).

    Args:
        run_dir: the run directory (holds the results store).
        analyses: which analyses to include (names in :data:`ANALYSES`);
            default: the study's ``[report] analyses``, else chosen from the data.
        metrics: metrics to tabulate and rank by (``accuracy`` or ``test_accuracy``);
            default: the study's ``[report] metrics``, else all recorded.
        top_n: rows of the configuration and comparison tables (default
            ``[report] top_n``, else 20).
        run: an already-open ``sweeplab.store.load(run_dir)`` result (optional).
        force: rebuild even when the report is up to date.
        svg: also write an SVG copy of each figure (slower; PNGs are always written).

    Returns:
        Path of ``report.html``.

    Raises:
        ValueError: an unknown analysis name (the message lists accepted ones).
        sweeplab.store.StoreError: ``run_dir`` holds no results store.
    """
    from sweeplab.report import fingerprint as fpm

    run_dir = Path(run_dir)
    options = {"analyses": list(analyses) if analyses is not None else None,
               "metrics": list(metrics) if metrics is not None else None, "top_n": top_n, "svg": bool(svg)}
    fp = fpm.fingerprint(run_dir, options)
    html = run_dir / "report.html"
    if not force and fpm.up_to_date(run_dir, fp):
        return html

    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report
    from sweeplab.report.render import _atomic_write, write_all

    rd = RunData.from_run(run if run is not None else run_dir)
    report = build_report(rd, analyses=analyses, metrics=metrics, top_n=top_n)
    html = write_all(report, run_dir, svg=svg)
    stamp = run_dir / fpm.FINGERPRINT_NAME
    if fp is not None:
        _atomic_write(stamp, fp + "\n")
    else:
        stamp.unlink(missing_ok=True)
    return html
