"""Pruning rules of a search: which trials of a group stop at an epoch end.

A rule sees, at the end of each epoch, the value of the watched validation
metric for every trial of the group still training, plus the values earlier
trials of the search recorded at that epoch (``reference``: per epoch, a
tuple of values). A pruned trial stops like an early-stopped one (its weights
stay, its history ends there) and is stored with status ``pruned``.

* ``median`` (Optuna's ``MedianPruner``): from epoch ``min_epochs`` on, prune a
  trial whose value is worse than the median of the values at that epoch of
  the reference trials and the group's other trials, once at least
  ``min_trials`` values are known there.
* ``asha`` (successive halving, Li et al. 2018 "Massively parallel
  hyperparameter tuning"; Optuna's ``SuccessiveHalvingPruner``): rungs at
  epochs ``min_epochs * reduction_factor**k``; at a rung, a trial continues
  only if its value is among the best ``1/reduction_factor`` of all values
  recorded at that rung (at least one continues).

Everything here is plain Python and picklable: a rule travels in the
:class:`~sweeplab.engine.executor.GroupTask` to whatever process trains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class PruneRule:
    """A pruner for one group.

    Attributes:
        kind: ``"median"`` or ``"asha"``.
        metric: the watched history key, e.g. ``("val", "accuracy")``.
        maximize: whether higher values are better.
        min_epochs: median: first epoch that may prune; asha: the first rung.
        min_trials: median: values needed at an epoch before it prunes there.
        reduction_factor: asha: eta.
        reference: ``{epoch: values}`` of earlier trials (1-based epochs).
    """

    kind: str
    metric: tuple[str, str]
    maximize: bool
    min_epochs: int = 1
    min_trials: int = 4
    reduction_factor: int = 3
    reference: dict[int, tuple[float, ...]] = field(default_factory=dict)

    def is_rung(self, epoch: int) -> bool:
        """ASHA: whether ``epoch`` is ``min_epochs * reduction_factor**k`` for some k >= 0."""
        e = epoch / self.min_epochs
        if e < 1 or e != int(e):
            return False
        k = round(math.log(e, self.reduction_factor))
        return self.min_epochs * self.reduction_factor ** k == epoch

    def prune(self, epoch: int, values: Sequence[float | None]) -> list[bool]:
        """Which trials stop after ``epoch``; ``values[i]`` is None for a trial not training."""
        live = [v for v in values if v is not None and math.isfinite(v)]
        pool = list(self.reference.get(epoch, ())) + live
        if not live or epoch < self.min_epochs:
            return [False] * len(values)
        sign = 1.0 if self.maximize else -1.0
        if self.kind == "median":
            if len(pool) < self.min_trials:
                return [False] * len(values)
            median = float(np.median(pool))
            return [v is not None and (not math.isfinite(v) or sign * v < sign * median) for v in values]
        if self.kind == "asha":
            if not self.is_rung(epoch):
                return [False] * len(values)
            keep = max(1, len(pool) // self.reduction_factor)
            cut = sorted((sign * p for p in pool), reverse=True)[keep - 1]  # the keep-th best value
            return [v is not None and (not math.isfinite(v) or sign * v < cut) for v in values]
        raise ValueError(f"unknown pruner {self.kind!r}; accepted: median, asha")
