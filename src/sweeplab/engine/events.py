"""Progress of a run as plain event records.

The trainer and the driver report what happens by calling ``emit(event)`` with
one of these frozen dataclasses; displays (:mod:`sweeplab.progress`) and any
other listener consume them (:class:`sweeplab.engine.progress.Progress` turns
each into the callback of its kind). Events hold only numbers, strings and
small dicts, so a worker process can pickle them to the driver.

Order within a run: ``RunStarted``; then per group ``GroupStarted``,
``EpochDone`` (once per epoch), ``GroupFinished`` (trained) and, once the
driver has committed it, ``GroupSaved``. Groups carry their ``index`` in the
run, so events of groups training at the same time can be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union



@dataclass(frozen=True)
class GroupWork:
    """The size of one group: trials x epochs (at most; early stopping ends sooner) x steps per epoch."""

    trials: int
    epochs: int
    steps: int
    macs: float = 0.0  # multiply-adds of one trial's forward pass over one batch (the time model's)

    @property
    def units(self) -> int:
        return self.trials * self.epochs * max(self.steps, 1)


@dataclass(frozen=True)
class RunStarted:
    """Training starts: the planned work of each group to train, in order."""

    groups: tuple[GroupWork, ...]


@dataclass(frozen=True)
class GroupStarted:
    """A group's data and program are being set up (its first epoch also compiles)."""

    index: int
    n_groups: int
    n_trials: int
    epochs: int
    label: str
    steps: int = 0  # optimizer steps per epoch


@dataclass(frozen=True)
class EpochDone:
    """One epoch of every active trial of the group; ``summary``: median loss, active trials."""

    index: int
    epoch: int
    seconds: float
    summary: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupFinished:
    """The group trained (and evaluated on the test split); its results go to the driver."""

    index: int
    seconds: float


@dataclass(frozen=True)
class GroupSaved:
    """The driver committed the group's results to the store."""

    index: int


Event = Union[RunStarted, GroupStarted, EpochDone, GroupFinished, GroupSaved]
Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An ``emit`` that drops every event."""
