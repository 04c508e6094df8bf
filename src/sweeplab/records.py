"""The records that pass from the engine to the results store.

These dataclasses (in the bottom layer) are the contract between ``engine`` (which produces them)
and ``store`` (which persists them) and ``analysis``/``report`` (which read
them back through :func:`sweeplab.store.load`).

Naming of metrics follows Keras's ``History``: ``loss``, ``accuracy``,
``f1``...; a model with several heads adds ``<head>_loss``,
``<head>_accuracy``.... The split is kept separately: ``train``, ``val`` or
``test``. Per-layer gradient norms use split ``grad`` and metric
``<layer>/kernel`` or ``<layer>/bias``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Trial statuses.
PENDING = "pending"
FINISHED = "finished"  # trained for all epochs or stopped early by early stopping
DIVERGED = "diverged"  # loss became non-finite; history kept up to that epoch
PRUNED = "pruned"  # stopped by a search's pruner at an epoch end; history kept up to that epoch
STATUSES = (PENDING, FINISHED, DIVERGED, PRUNED)
#: the statuses of a trial that has run (skipped on resume, shown by reports)
DONE = (FINISHED, DIVERGED, PRUNED)


@dataclass(frozen=True)
class TrialRecord:
    """One trial as planned, before it runs.

    Args:
        trial_id: hash of the resolved configuration and seed (stable across runs).
        config: the fully resolved study configuration of this trial (the
            ``data``, ``model`` and ``train`` sections as plain JSON-able dicts);
            the trial can be rebuilt from it alone.
        overrides: the swept values of this trial, ``{"train.batch_size": 32}``
            (empty for a study without a sweep). Together with ``repeat`` this
            identifies the configuration a trial belongs to.
        config_id: hash of ``overrides`` (trials that are repeats or folds of
            one configuration share it).
        seed: the trial's seed (initialisation, shuffling, dropout).
        repeat: index of the repeat (0..repeats-1).
        fold: cross-validation fold index, or None.
        group: the compiled group the trial trains in (a label, informative).
    """

    trial_id: str
    config: dict[str, Any]
    overrides: dict[str, Any]
    config_id: str
    seed: int
    repeat: int
    fold: int | None
    group: str


@dataclass
class TrialResult:
    """Everything a finished (or diverged) trial produced.

    Args:
        trial_id: the TrialRecord's id.
        status: FINISHED, DIVERGED or PRUNED.
        epochs_run: number of epochs trained (history length).
        history: ``(split, metric) -> list of per-epoch values`` for splits
            ``train``, ``val`` and ``grad``.
        test: final metrics on the test split, ``metric -> value`` (may be empty).
        final: summary values, e.g. ``{"train_loss": .., "val_accuracy": ..}``
            taken at the last (or restored best) epoch.
        confusion: head name -> confusion matrix on the test split (rows true,
            columns predicted), for classification heads.
        epoch_seconds: wall time of each epoch of the group (shared by its trials).
        compile_seconds: time of the first epoch beyond the median of the others.
        n_params: number of trainable parameters.
        diverged_epoch: 1-based epoch at which the loss became non-finite.
        stopped_epoch: 1-based epoch at which early stopping ended training.
        best_epoch: 1-based epoch of the monitored best (early stopping).
        params: final parameters, flat ``"layer/name" -> array``; saved as npz.
        predictions: test-set outputs for analyses, flat name -> array, e.g.
            ``y_true/output``, ``y_pred/output``, ``proba/output``; saved as npz.
    """

    trial_id: str
    status: str
    epochs_run: int
    history: dict[tuple[str, str], list[float]]
    test: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    compile_seconds: float = 0.0
    n_params: int = 0
    diverged_epoch: int | None = None
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    params: dict[str, np.ndarray] | None = None
    predictions: dict[str, np.ndarray] | None = None
