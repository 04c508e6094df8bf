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

Several groups may train at once (``--executor processes`` or ``ray``): their
events interleave, told apart by the group's index. A display that sets
:attr:`Progress.indexed` receives that index in ``epoch_end`` and
``group_end`` too, and the clock counts each group's epochs on its own and
divides the work left by the number of groups seen training at once.
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

    Attributes:
        indexed: False (default): ``epoch_end`` and ``group_end`` are called as
            below. True: they also receive ``index=`` (the group's index), which a
            display needs when several groups train at once.
    """

    indexed: bool = False

    def __call__(self, event: Event) -> None:
        kw = {"index": event.index} if getattr(self, "indexed", False) and hasattr(event, "index") else {}
        if isinstance(event, EpochDone):
            self.epoch_end(event.epoch, event.seconds, event.summary, **kw)
        elif isinstance(event, GroupStarted):
            self.group_start(event.index, event.n_groups, event.n_trials, event.epochs, event.label,
                             steps=event.steps)
        elif isinstance(event, GroupFinished):
            self.group_end(event.seconds, **kw)
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

    Groups training at once (a parallel executor) are counted each on its own:
    ``epoch_end``/``group_end`` take the group's ``index`` (default: the group
    started last, as when groups train one after another). The time per unit is
    then one group's (one worker's); the ETA divides the work left by the
    number of groups seen in flight at once (at most the groups left), and is
    never shorter than what the slowest group in flight has left.
    """

    def __init__(self, groups: Sequence[GroupWork] = (), now=time.monotonic):
        self.now = now
        self.t0 = now()
        self.groups = list(groups)
        self.index = -1  # the group started last
        self.done_units = 0  # finished groups, plus the epochs of the groups in flight
        self.width = 0  # the most groups seen in flight at once
        self._flight: dict[int, int] = {}  # group in flight -> epochs it has finished
        self._ended: set[int] = set()
        self._group_done = 0  # units of finished groups
        self._steady_s = 0.0
        self._steady_units = 0
        self._first_s = 0.0
        self._first_units = 0
        self._overhead_s = 0.0
        self._overhead_n = 0
        self._t_event = self.t0  # the ETA counts down between events

    @property
    def total_units(self) -> int:
        return sum(g.units for g in self.groups)

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def epoch(self) -> int:
        """Epochs the group started last has finished."""
        return self._flight.get(self.index, 0)

    def elapsed(self) -> float:
        return self.now() - self.t0

    def _group(self, index: int | None) -> tuple[int, GroupWork | None]:
        i = self.index if index is None else index
        return i, (self.groups[i] if 0 <= i < len(self.groups) else None)

    def _count(self) -> None:
        self.done_units = self._group_done + sum(self.groups[i].trials * max(self.groups[i].steps, 1) * e
                                                 for i, e in self._flight.items())

    def group_start(self, index: int, n_trials: int, epochs: int, steps: int = 0) -> None:
        self.index = index
        _, old = self._group(index)
        exact = GroupWork(n_trials, epochs, steps or (old.steps if old else 1))
        if old is None:
            self.groups += [exact] * (index + 1 - len(self.groups))
        self.groups[index] = exact  # the trainer knows the exact step count
        self._flight[index] = 0
        self._ended.discard(index)  # a retried group starts again
        self.width = max(self.width, len(self._flight))
        self._t_event = self.now()
        self._count()

    def epoch_end(self, epoch: int, seconds: float, index: int | None = None) -> None:
        i, g = self._group(index)
        if g is None or i not in self._flight:
            return
        units = g.trials * max(g.steps, 1) * (epoch - self._flight[i])
        self._flight[i] = epoch
        self._t_event = self.now()
        self._count()
        if epoch == 1:
            self._first_s += seconds
            self._first_units += units
        else:
            self._steady_s += seconds
            self._steady_units += units

    def group_end(self, seconds: float, index: int | None = None) -> None:
        i, g = self._group(index)
        if g is None or i not in self._flight:
            return
        # Early stopping ends a group sooner: its remaining units are done (nothing left to train).
        trained = g.trials * max(g.steps, 1) * self._flight.pop(i)
        self._ended.add(i)
        self._group_done += g.units
        self._count()
        self._t_event = self.now()
        rate = self.seconds_per_unit()
        if rate is not None:
            self._overhead_s += max(seconds - trained * rate, 0.0)
            self._overhead_n += 1

    def seconds_per_unit(self) -> float | None:
        """Measured time per trial-step of one group: from steady epochs; from first epochs
        (which also compile) only once a group has ended without a second epoch; else unknown."""
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
        overhead = self._overhead_s / self._overhead_n if self._overhead_n else 0.0
        left_units = max(self.total_units - self.done_units, 0)
        # Groups whose fixed cost (data, compilation) is still to come: those not started,
        # and those in flight until their first epoch ends.
        fixed = self.n_groups - len(self._ended) - sum(1 for e in self._flight.values() if e > 0)
        work = left_units * rate + max(fixed, 0) * overhead
        at_once = max(1, min(self.width, self.n_groups - len(self._ended)))
        slowest = max((self.groups[i].trials * max(self.groups[i].steps, 1) * (self.groups[i].epochs - e) * rate
                       + (overhead if e == 0 else 0.0) for i, e in self._flight.items()), default=0.0)
        since = self.now() - self._t_event
        return max(max(work / at_once, slowest) - since, 0.0)

    def fraction(self) -> float:
        total = self.total_units
        return min(self.done_units / total, 1.0) if total else 0.0
