"""The driver: plan once, skip finished trials, train through an executor, commit each group.

Only this process writes the results store. Each group is committed in one
transaction as it comes back from the executor, so a run killed at any
moment loses at most the groups in flight, and running the study again
resumes from there.

The study is planned (and so validated against its data) once, before the
store is created: a study that cannot run leaves nothing in the run
directory. A resume re-verifies the files of finished trials (size and
sha256) and trains again those that are damaged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sweeplab.engine.events import Emit, GroupSaved, RunStarted, ignore
from sweeplab.engine.cost import Choice, longest_first
from sweeplab.engine.executor import Auto, Executor, GroupDone, GroupTask, LocalExecutor, make_executor, resolve
from sweeplab.engine.plan import Plan, plan_trials, split_groups
from sweeplab.engine.progress import Progress
from sweeplab.spec.expand import Study


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    n_trials: int
    n_skipped: int
    n_trained: int
    n_groups: int
    seconds: float
    #: trials whose saved files were damaged and that were trained again: ``{trial_id: reason}``
    repaired: dict = field(default_factory=dict)
    #: where ``fresh=True`` moved the earlier results (``<run_dir>.old-<time>``), or None
    moved_aside: Path | None = None
    #: what ``executor="auto"`` chose (:class:`sweeplab.engine.cost.Choice`), or None
    executor_choice: object = None


def default_run_dir(study: Study) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study.name)
    return Path("runs") / safe


def plan(study: Study, *, max_group_size: int | None = None, budget_bytes: int | None = None) -> Plan:
    """Group every trial of ``study`` and check each group against its data (see :func:`plan_trials`).

    Raises:
        ValueError: the study does not fit its data or the memory (one line).
    """
    return plan_trials(study.trials, study.spec.study.seed, max_group_size=max_group_size,
                       budget_bytes=budget_bytes)


def run_study(study: Study, run_dir: str | Path | None = None, *, fresh: bool = False,
              progress: Emit | None = None, max_group_size: int | None = None, lock=None,
              planned: Plan | None = None, executor: Executor | str | Auto | None = None,
              on_choice: Callable[[Choice], None] | None = None) -> RunSummary:
    """Train every unfinished trial of ``study`` into the store at ``run_dir``.

    Args:
        study: the loaded study.
        run_dir: the run directory (default ``runs/<study name>``).
        fresh: move the earlier contents of ``run_dir`` aside to
            ``<run_dir>.old-<UTC time>`` (nothing is deleted) and start over.
        progress: receives the progress events (:mod:`sweeplab.engine.events`); a
            :class:`sweeplab.engine.progress.Progress` display, or any callable.
        max_group_size: at most this many trials per compiled group (when planned here).
        lock: a :class:`sweeplab.store.RunLock` already held on ``run_dir``
            (the CLI takes it before reading which trials are finished, so no
            other process can start in between); default: taken here.
        planned: the study's :func:`plan`, when the caller made it already
            (the CLI does, to print it); default: planned here. Either way
            the study is planned once per run.
        executor: trains the groups (default: :class:`LocalExecutor`, in this process), or
            the name of one (``"local"``, ``"processes"``, ``"ray"``: made with its defaults
            and closed at the end; ``"auto"``: ``local`` or ``processes``, whichever
            :func:`sweeplab.engine.cost.choose` estimates faster for the groups left to train).
            ``Auto(workers=N)``: ``auto`` with at most N worker processes.
            A parallel executor gets the groups longest first (estimated).
        on_choice: called with what ``auto`` chose (a :class:`sweeplab.engine.cost.Choice`)
            before the first group is submitted.

    Raises:
        sweeplab.store.StoreError: the store is damaged, or another process writes ``run_dir``.
        sweeplab.store.StoreEnvironmentError: disk full, read-only directory.
        ValueError: the study does not fit its data (found before anything is written).
    """
    own_executor = isinstance(executor, (str, Auto))  # a name ("local", "processes", "ray"): made and closed here
    if executor == "auto":
        executor = Auto()
    if isinstance(executor, Auto) and study.spec.is_search:
        executor = "local"  # a search asks its configurations as it runs: nothing to plan ahead
    if isinstance(executor, str):
        executor = make_executor(executor)
    if study.spec.is_search:  # random or TPE search: configurations are asked as it runs
        from sweeplab.engine.search import run_search

        try:
            return run_search(study, run_dir, fresh=fresh, progress=progress, max_group_size=max_group_size,
                              lock=lock, executor=executor)
        finally:
            if own_executor:
                _close(executor)
    from sweeplab.store import RunLock, Store

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(study)
    emit = listener(progress)
    executor = executor if executor is not None else LocalExecutor()
    choice = None
    t0 = time.perf_counter()
    own_lock = lock is None
    lock = RunLock(run_dir) if own_lock else lock
    try:
        if planned is None:
            planned = plan(study, max_group_size=max_group_size)  # validates; nothing written yet
        moved = lock.move_aside() if fresh else None
        ids = [t.trial_id for t in study.trials]
        with Store(run_dir, lock=lock) as store:
            store.register(planned.trials)
            store.set_study(study.name, study.text, json.loads(study.spec.model_dump_json()), ids)
            repaired = store.verify_artifacts(ids)
            store.reset_trials(repaired)
            groups = planned.pending(store.finished_ids())
            work = planned.work_of(groups)
            if isinstance(executor, Auto):
                executor, choice = resolve("auto", work, workers=executor.workers)
                if on_choice is not None:
                    on_choice(choice)
                if choice.split:  # a part of a big group for every worker
                    groups, work = split_groups(groups, work, choice.split)
            if getattr(executor, "concurrency", 1) > 1:  # the longest first: the last to end ends sooner
                order = longest_first(work)
                groups, work = [groups[i] for i in order], [work[i] for i in order]
            emit(RunStarted(tuple(work)))
            for i, g in enumerate(groups):
                executor.submit(GroupTask(g, study.spec.study.seed, i, len(groups)))
            trained = sum(len(done.results) for done in commit_results(executor, store, emit))
    finally:
        if own_executor:
            _close(executor)
        if own_lock:
            lock.release()
    n = len(study.trials)
    return RunSummary(run_dir, n, n - trained, trained, len(groups), time.perf_counter() - t0, repaired, moved,
                      choice)


def _close(executor) -> None:
    close = getattr(executor, "close", None)  # worker pools and clusters have one; the local loop has none
    if close is not None:
        close()


def commit_results(executor: Executor, store, emit: Emit) -> list[GroupDone]:
    """Commit every group ``executor`` yields, one transaction each, as it arrives; return them.

    The one commit path of the driver (a grid run and every round of a search): results
    that are not exactly one per trial of the group are refused; on any error or
    interrupt what is outstanding is cancelled, so every group in the store is whole.
    """
    done_groups = []
    try:
        for done in executor.results(emit):
            store.commit_group(_checked(done))
            emit(GroupSaved(done.task.index))
            done_groups.append(done)
    except BaseException:
        executor.cancel()
        raise
    return done_groups


def _checked(done: GroupDone) -> list:
    """The results of ``done``, refused unless they are exactly one per trial of its group."""
    want = sorted(t.trial_id for t in done.task.group.trials)
    got = sorted(r.trial_id for r in done.results)
    if got != want:
        raise RuntimeError(f"executor returned results for {got} for group {done.task.group.key} "
                           f"of trials {want}; nothing of this group was saved")
    return done.results


def listener(progress) -> Emit:
    """``progress`` as an event listener: a callable as it is, an object with Progress's callbacks wrapped."""
    if progress is None:
        return ignore
    if callable(progress):
        return progress
    return lambda event: Progress.__call__(progress, event)


_listener = listener  # the earlier private name
