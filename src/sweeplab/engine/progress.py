"""Progress callbacks and the work they count.

The engine reports progress as events (:mod:`sweeplab.engine.events`). A
:class:`Progress` object is a listener: called with an event, it runs the
callback of its kind: once with the size of every group (``run_start``), then
per group ``group_start`` / ``epoch_end`` (once per epoch) / ``group_end``
(training done) / ``group_saved`` (committed to the store). Displays
(terminal, log, notebook) live in :mod:`sweeplab.progress`.

Work is counted in *trial-steps*: one optimizer step of one trial. A group of
``T`` trials training ``E`` epochs of ``S`` steps is ``T * E * S`` units.
:class:`WorkClock` turns units into an ETA with the time per unit measured
so far, plus the measured fixed cost of a group (data, compilation, final
evaluation), so a study whose last group is the big one gets an honest ETA.
"""

from __future__ import annotations

import time
from math import ceil
from typing import Sequence

from sweeplab.engine.events import (EpochDone, Event, GroupFinished, GroupSaved, GroupStarted, GroupWork,
                                    RunStarted)

__all__ = ["GroupWork", "Progress", "WorkClock", "steps_per_epoch"]


class Progress:
    """Progress callbacks (all no-ops); subclass and override what you need.

    An instance is an event listener: ``progress(event)`` calls the callback of
    the event's kind, so it can be passed wherever an ``emit`` is expected.
    """

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochDone):
            self.epoch_end(event.epoch, event.seconds, event.summary)
        elif isinstance(event, GroupStarted):
            self.group_start(event.index, event.n_groups, event.n_trials, event.epochs, event.label,
                             steps=event.steps)
        elif isinstance(event, GroupFinished):
            self.group_end(event.seconds)
        elif isinstance(event, GroupSaved):
            self.group_saved(event.index)
        elif isinstance(event, RunStarted):
            self.run_start(list(event.groups))

    def run_start(self, groups: Sequence[GroupWork]) -> None: ...
    def group_start(self, index: int, n_groups: int, n_trials: int, epochs: int, label: str,
                    steps: int = 0) -> None: ...
    def epoch_end(self, epoch: int, seconds: float, summary: dict[str, float]) -> None: ...
    def group_end(self, seconds: float) -> None: ...
    def group_saved(self, index: int) -> None: ...


def steps_per_epoch(n_train: int, batch_size, cross_validation: int | None = None) -> int:
    """Optimizer steps in one epoch (as the trainer computes them)."""
    if cross_validation:
        n_train -= ceil(n_train / cross_validation)  # the held-out fold
    n_train = max(n_train, 1)
    bs = n_train if batch_size == "full" else min(int(batch_size), n_train)
    return ceil(n_train / bs)


class WorkClock:
    """Work done, elapsed time and a calibrated ETA over one run.

    Time per unit comes from the steady epochs (the first epoch of a group also
    compiles); the fixed cost per group is its wall time minus its epochs at
    the steady rate. Both are running totals over the groups seen so far.
    """

    def __init__(self, groups: Sequence[GroupWork] = (), now=time.monotonic):
        self.now = now
        self.t0 = now()
        self.groups = list(groups)
        self.index = -1
        self.epoch = 0
        self.done_units = 0  # finished groups, plus the epochs of the group in flight
        self._group_done = 0  # units of finished groups
        self._steady_s = 0.0
        self._steady_units = 0
        self._first_s = 0.0
        self._first_units = 0
        self._overhead_s = 0.0
        self._overhead_n = 0
        self._t_group = self.t0
        self._group_epochs_s = 0.0
        self._t_event = self.t0  # the ETA counts down between events

    @property
    def total_units(self) -> int:
        return sum(g.units for g in self.groups)

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def elapsed(self) -> float:
        return self.now() - self.t0

    def _current(self) -> GroupWork | None:
        return self.groups[self.index] if 0 <= self.index < len(self.groups) else None

    def group_start(self, index: int, n_trials: int, epochs: int, steps: int = 0) -> None:
        self.index, self.epoch = index, 0
        old = self._current()
        exact = GroupWork(n_trials, epochs, steps or (old.steps if old else 1))
        if old is None:
            self.groups += [exact] * (index + 1 - len(self.groups))
        self.groups[index] = exact  # the trainer knows the exact step count
        self._t_group = self._t_event = self.now()
        self._group_epochs_s = 0.0

    def epoch_end(self, epoch: int, seconds: float) -> None:
        g = self._current()
        if g is None:
            return
        units = g.trials * max(g.steps, 1) * (epoch - self.epoch)
        self.epoch = epoch
        self._t_event = self.now()
        self.done_units = self._group_done + g.trials * max(g.steps, 1) * epoch
        self._group_epochs_s += seconds
        if epoch == 1:
            self._first_s += seconds
            self._first_units += units
        else:
            self._steady_s += seconds
            self._steady_units += units

    def group_end(self, seconds: float) -> None:
        g = self._current()
        if g is None:
            return
        # Early stopping ends a group sooner: its remaining units are done (nothing left to train).
        self._group_done += g.units
        self.done_units = self._group_done
        self._t_event = self.now()
        rate = self.seconds_per_unit()
        if rate is not None:
            trained = g.trials * max(g.steps, 1) * self.epoch
            self._overhead_s += max(seconds - trained * rate, 0.0)
            self._overhead_n += 1

    def seconds_per_unit(self) -> float | None:
        """Measured time per trial-step: from steady epochs; from first epochs (which also
        compile) only once a group has ended without a second epoch; else unknown."""
        if self._steady_units:
            return self._steady_s / self._steady_units
        if self._first_units and self._group_done:
            return self._first_s / self._first_units
        return None

    def eta(self) -> float | None:
        """Seconds left (counting down since the last event, not below 0), or None before anything was measured."""
        rate = self.seconds_per_unit()
        if rate is None:
            return None
        left_units = max(self.total_units - self.done_units, 0)
        # Groups whose fixed cost (data, compilation) is still to come; the group in
        # flight counts until its first epoch ends.
        groups_left = self.n_groups - max(self.index, 0) - (0 if self.epoch == 0 else 1)
        overhead = self._overhead_s / self._overhead_n if self._overhead_n else 0.0
        since = self.now() - self._t_event
        return max(left_units * rate + max(groups_left, 0) * overhead - since, 0.0)

    def fraction(self) -> float:
        total = self.total_units
        return min(self.done_units / total, 1.0) if total else 0.0
