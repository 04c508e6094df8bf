"""Results store: SQLite in the run directory, parameters as ``.npz``, pandas on top.

Writing (the driver only)::

    with Store(run_dir) as store:
        store.set_study(name, spec_text, spec_json)
        store.register(records)              # planned trials, pending
        todo = [r for r in records if r.trial_id not in store.finished_ids()]
        store.commit_group(results)          # one transaction per group

Reading::

    run = sweeplab.store.load(run_dir)       # read-only
    run.trials, run.epochs, run.summary(), run.history(trial_id), run.params(trial_id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import DIVERGED, FINISHED, PENDING, STATUSES, TrialRecord, TrialResult
from .sqlite import DB_NAME, SCHEMA_VERSION, Store, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from .frame import Run

__all__ = [
    "DB_NAME",
    "DIVERGED",
    "FINISHED",
    "PENDING",
    "SCHEMA_VERSION",
    "STATUSES",
    "Run",
    "Store",
    "StoreError",
    "TrialRecord",
    "TrialResult",
    "load",
]


def load(run_dir) -> "Run":
    """Open ``run_dir`` read-only; :class:`StoreError` (one line) if it holds no results store."""
    from .frame import load as _load

    return _load(run_dir)


def __getattr__(name: str) -> Any:  # lazy: pandas is imported only when reading
    if name == "Run":
        from .frame import Run

        return Run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
