"""Executors: where groups train.

The driver (:func:`sweeplab.engine.run.run_study`) plans a study once, submits
each group to train as a :class:`GroupTask`, and commits each
:class:`GroupDone` to the store as it comes back: it stays the only writer,
whatever runs the groups. An executor is any object with the three methods of
:class:`Executor`; :class:`LocalExecutor` trains in this process, one group at
a time (the default). A task and its results are picklable, and so are the
progress events, so a process-pool or cluster executor ships tasks to workers,
runs :func:`train_task` there and forwards the workers' events to ``emit`` in
the driver's thread.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator, Protocol

from sweeplab.engine.events import Emit, ignore
from sweeplab.engine.plan import Group
from sweeplab.engine.pruning import PruneRule
from sweeplab.engine.trainer import train_group
from sweeplab.errors import MachineError, UserError
from sweeplab.records import TrialResult


@dataclass(frozen=True)
class GroupTask:
    """One group to train, with what a worker needs besides the code: all picklable.

    Attributes:
        group: the trials (each with its full configuration).
        study_seed: the study seed (the data seed unless ``data.seed`` is set).
        index: the group's position in this run (progress events carry it).
        n_groups: the number of groups in this run.
        prune: a search's pruning rule (:class:`sweeplab.engine.pruning.PruneRule`), or None.
    """

    group: Group
    study_seed: int
    index: int
    n_groups: int
    prune: PruneRule | None = None


@dataclass(frozen=True)
class GroupDone:
    """A trained group: one result per trial of ``task.group``."""

    task: GroupTask
    results: list[TrialResult]


class Executor(Protocol):
    """Trains submitted groups; the driver commits what :meth:`results` yields.

    Contract:
        * ``submit`` queues a task and returns at once; tasks may be submitted
          while :meth:`results` is being iterated (a search strategy submits
          the next batch after reading results).
        * ``results(emit)`` yields one :class:`GroupDone` per submitted task, in
          any order, until none is outstanding. Events of the groups in flight
          go to ``emit``, called in the iterating thread. A task that fails
          raises from the iteration (nothing is yielded for it).
        * ``cancel()`` drops every task not yet yielded (after an error or an
          interrupt); results already yielded are the caller's.
        * Optionally ``close()``: release workers; the driver calls it on an
          executor it made from a name (:func:`make_executor`).
    """

    def submit(self, task: GroupTask) -> None: ...

    def results(self, emit: Emit = ignore) -> Iterator[GroupDone]: ...

    def cancel(self) -> None: ...


def train_task(task: GroupTask, emit: Emit = ignore) -> list[TrialResult]:
    """Train one task: what every executor runs, in whatever process."""
    g = task.group
    return train_group(list(g.trials), study_seed=task.study_seed, emit=emit, index=task.index,
                       n_groups=task.n_groups, label=g.label, prune=task.prune)


class LocalExecutor:
    """Trains in this process, one group at a time, in the order submitted."""

    #: groups trained at once (a parallel executor's is larger: the driver then submits longest first)
    concurrency = 1

    def __init__(self) -> None:
        self._queue: deque[GroupTask] = deque()

    def submit(self, task: GroupTask) -> None:
        self._queue.append(task)

    def results(self, emit: Emit = ignore) -> Iterator[GroupDone]:
        while self._queue:
            task = self._queue.popleft()
            yield GroupDone(task, train_task(task, emit))

    def cancel(self) -> None:
        self._queue.clear()


#: the executors ``sweeplab run --executor`` and ``sweeplab.run(executor=...)`` accept by name;
#: ``auto`` is ``local`` or ``processes``, chosen per run from the planned groups (:func:`resolve`)
EXECUTORS = ("auto", "local", "processes", "ray")


class ExecutorError(MachineError):
    """The executor cannot run here: Ray is not installed, its cluster cannot be reached (exit 1)."""


def check_options(name: str, workers: int | None = None, address: str | None = None) -> None:
    """Refuse an unknown executor name or an option it does not take (one line naming the field)."""
    if name not in EXECUTORS:
        raise UserError(f"executor: {name!r}: accepted: {', '.join(EXECUTORS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"workers: {workers!r}: accepted: a whole number >= 1")
    if workers is not None and name not in ("processes", "auto"):
        raise UserError(f"workers: {workers}: only for the processes executor (a Ray cluster has its own)")
    if address is not None and name != "ray":
        raise UserError(f"address: {address}: only for the ray executor")


def make_executor(name: str, *, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (:data:`EXECUTORS`).

    Args:
        workers: ``processes``: worker processes (default: one per core).
        address: ``ray``: the cluster (``auto``, ``HOST:PORT``; default: ``auto`` if a cluster
            runs on this machine, else a local one started for the run).

    Raises:
        UserError: an unknown name, or an option the executor does not take.
        ExecutorError: Ray is not installed or its cluster cannot be reached.
    """
    check_options(name, workers, address)
    if name == "auto":
        raise UserError("executor: 'auto' is chosen from a planned run: use engine.executor.resolve")
    if name == "processes":
        from sweeplab.engine.executor_processes import ProcessExecutor

        return ProcessExecutor(workers)
    if name == "ray":
        from sweeplab.engine.executor_ray import RayExecutor

        return RayExecutor(address)
    return LocalExecutor()


@dataclass(frozen=True)
class Auto:
    """The ``auto`` executor with its option: at most ``workers`` worker processes (default: one per core)."""

    workers: int | None = None


def resolve(name: str, work, *, workers: int | None = None, address: str | None = None):
    """The executor called ``name`` for a run of the planned groups ``work``: ``(executor, choice)``.

    ``auto`` becomes ``local`` or ``processes`` by :func:`sweeplab.engine.cost.choose`
    (``workers``: at most this many worker processes; default one per core); ``choice``
    says which and why (None for a name given explicitly).

    Raises:
        UserError, ExecutorError: as :func:`make_executor`.
    """
    if name != "auto":
        return make_executor(name, workers=workers, address=address), None
    check_options(name, workers, address)
    from sweeplab.engine import cost

    n = cost.cores() if workers is None else workers
    choice = cost.choose(list(work), n_cores=n)
    if choice.name == "processes":
        return make_executor("processes", workers=choice.workers), choice
    return LocalExecutor(), choice
