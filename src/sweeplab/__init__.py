"""sweeplab: neural-network studies as one file and one command.

    >>> import sweeplab
    >>> study = sweeplab.load_study("quickstart")     # a file path or a built-in name
    >>> sweeplab.run(study, "runs/quickstart")         # trains every unfinished trial
    >>> run = sweeplab.load("runs/quickstart")         # results: tables and figures
    >>> run.summary(); run.table(); run.plot.learning_curves()
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "load", "load_study", "run", "datasets"]


def load_study(study):
    """Load and validate a study file (or a built-in study by name); see ``sweeplab.spec``."""
    from sweeplab.spec.expand import load_study as _load_study

    return _load_study(study)


def run(study, run_dir=None, *, fresh: bool = False, report: bool = False, progress=False, executor="auto"):
    """Train every unfinished trial of ``study`` (a Study, a path or a built-in name).

    Args:
        progress: ``False`` (default): silent. ``True``: a progress bar that fits
            where it is shown: an HTML bar in a Jupyter notebook, a two-line bar
            in a terminal, plain lines (one per saved group, at most one per
            10 s of training) in a log. Or a callable that receives the progress
            events (:mod:`sweeplab.engine.events`), such as a
            :class:`sweeplab.engine.progress.Progress` subclass.
        executor: what trains the groups: ``"auto"`` (default: ``"local"`` or ``"processes"``,
            whichever is estimated faster for the study's groups, as ``sweeplab run`` does),
            ``"local"`` (in this process, one group at a time), ``"processes"`` (one worker
            process per core), ``"ray"``
            (a Ray cluster, ``ray.init(address="auto")``), or an executor object
            (:mod:`sweeplab.engine.executor`, e.g. ``ProcessExecutor(workers=4)``,
            ``RayExecutor("HOST:PORT")``); see ``docs/scaling.md``.
    """
    from sweeplab.engine.cache import enable_compilation_cache
    from sweeplab.engine.run import run_study

    enable_compilation_cache()
    if not hasattr(study, "trials"):
        study = load_study(study)
    if progress is True:
        from sweeplab.progress import auto

        with auto() as display:
            summary = run_study(study, run_dir, fresh=fresh, progress=display, executor=executor)
    else:
        summary = run_study(study, run_dir, fresh=fresh, progress=progress or None, executor=executor)
    if report:
        from sweeplab.report import write_report

        write_report(summary.run_dir)
    return summary


def load(run_dir, *, all=False):  # noqa: A002 - mirrors the CLI's --all
    """Open a run directory: DataFrames (``.trials``, ``.epochs``), tables and plots.

    The trials of the study run last in ``run_dir``; ``all=True``: every trial stored there.
    """
    from sweeplab.notebook import attach
    from sweeplab.store import load as _load

    return attach(_load(run_dir, all=all))


def __getattr__(name):
    if name == "datasets":
        import importlib

        return importlib.import_module("sweeplab.datasets")
    raise AttributeError(f"module 'sweeplab' has no attribute {name!r}")
