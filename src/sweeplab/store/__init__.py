"""Results store: SQLite in the run directory, parameters as ``.npz``, pandas on top.

Writing (the driver only)::

    with RunLock(run_dir) as lock:               # held from reading to the last commit
        done = finished_ids(run_dir)             # read-only; creates nothing
        ...                                      # plan and validate before any store exists
        with Store(run_dir, lock=lock) as store:
            store.register(records)              # planned trials, pending
            store.set_study(name, spec_text, spec_json, trial_ids)   # current study + fingerprint
            store.reset_trials(store.verify_artifacts(ids))          # damaged files: train again
            store.commit_group(results)          # one transaction per group

Reading::

    run = sweeplab.store.load(run_dir)           # read-only; load(run_dir, all=True): every study
    run.trials, run.epochs, run.history(trial_id), run.config(trial_id), run.params(trial_id)
    run.damaged_trials()                         # {trial_id: reason}

:class:`Run` is the one reader (the CLI, the analyses, the report and
notebooks all read through it); the summary over seeds is
:func:`sweeplab.analysis.tables.summarize`. A new backend implements the
writer and the reader and passes :class:`sweeplab.store.testing.StoreConformance`.

Modules: ``sqlite`` (the writer), ``reader`` (read-only queries), ``frame``
(:class:`Run` and its DataFrames), ``schema`` (tables, migrations, the
transaction helper), ``npz`` (artifact files), ``paths`` (containment and
verification of stored paths), ``lock``, ``errors``, ``records``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweeplab.records import DIVERGED, FINISHED, PENDING, PRUNED, STATUSES, TrialRecord, TrialResult
from .errors import StoreEnvironmentError, StoreError
from .lock import RunLock
from .paths import DB_NAME
from .reader import finished_ids
from .schema import SCHEMA_VERSION
from .sqlite import Store, study_fingerprint

if TYPE_CHECKING:  # pragma: no cover
    from .frame import Run

__all__ = [
    "DB_NAME",
    "DIVERGED",
    "FINISHED",
    "PENDING",
    "PRUNED",
    "SCHEMA_VERSION",
    "STATUSES",
    "Run",
    "RunLock",
    "Store",
    "StoreEnvironmentError",
    "StoreError",
    "TrialRecord",
    "TrialResult",
    "finished_ids",
    "load",
    "study_fingerprint",
]


def load(run_dir, *, all: bool = False) -> "Run":  # noqa: A002 - mirrors the CLI's --all
    """Open ``run_dir`` read-only; :class:`StoreError` (one line) if it holds no results store.

    By default the trials of the study run last; ``all=True``: every trial ever stored.
    """
    from .frame import load as _load

    return _load(run_dir, all=all)


def __getattr__(name: str) -> Any:  # lazy: pandas is imported only when reading
    if name == "Run":
        from .frame import Run

        return Run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
