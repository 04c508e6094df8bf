"""A rough time model of planned groups, and the executor it makes ``auto`` choose.

The model is fitted to measurements on the 2-core development machine
(``benchmarks/README.md``, "Cores: a worker process per core, and ``--executor auto``"): a group's training
time is a fixed cost per step, a cost per trial and step (each trial's gather,
small ops and optimizer update) and a cost per multiply-add of a step. It is
good to a factor of ~2-3; it ranks groups and separates a 10-second study from
a 10-minute one, which is all ``auto`` and ``sweeplab reproduce --list`` ask.

Why ``auto`` exists (measured, same machine, nothing else running): a group of
small steps (a 784-64-10 MLP at batch 30) does not get faster with a second
core -- one process with XLA's two threads trained it at 0.35-0.42 s per epoch,
a worker pinned to one core at 0.31-0.33 s *while another worker trained a
second group on the other core* -- so a worker process per core trains such
groups ~2.5x faster in total. A group of large steps (784-300-10 x 3 trials at
batch 32) does use both cores (2.3 s per epoch vs 3.4 on one core), so a study
that is one such group stays in one process.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

from sweeplab.engine.progress import GroupWork

#: seconds per step of a group, whatever its size (dispatch of the step's small ops)
STEP_SECONDS = 2e-4
#: seconds per trial and step (per-trial gather, small ops, optimizer update): ~30-60 us for the
#: 5-25-unit MLPs of seed002-grid-search in groups of 100 and 300
TRIAL_STEP_SECONDS = 4e-5
#: seconds per multiply-add of a step (forward + backward counted as 3x the forward)
MAC_SECONDS = 8e-11
#: seconds to compile one group's programs (cold cache)
COMPILE_SECONDS = 8.0
#: a worker process's start-up (import JAX, read the data, load programs from the cache), seconds
WORKER_START_SECONDS = 3.0
#: multiply-adds per step (all trials of a group, forward) from which XLA's threads use extra cores fully
PARALLEL_MACS = 4e7
#: ``auto`` picks worker processes only when they are estimated to save this fraction of the time
AUTO_MIN_GAIN = 0.15


def model_macs(model) -> float:
    """Multiply-adds of one example's forward pass: dense/conv kernels times output positions."""
    total = 0.0
    for node in model.nodes():
        n_params = getattr(node, "n_params", None)
        if n_params is None:
            continue
        shape = tuple(node.out_shape)
        positions = math.prod(shape[:-1]) if len(shape) > 1 else 1
        total += float(n_params) * positions
    return total


def group_seconds(w: GroupWork) -> float:
    """Estimated training seconds of a group in one process on the 2-core machine (no compile)."""
    steps = w.epochs * max(w.steps, 1)
    return steps * (STEP_SECONDS + TRIAL_STEP_SECONDS * w.trials + MAC_SECONDS * 3 * w.macs * w.trials)


def thread_speedup(w: GroupWork, cores: int) -> float:
    """How much faster ``cores`` threads run the group than one core (1 for small steps).

    Fitted on 2 cores: 1.0 for a 784-64-10 step at batch 30 (1.5 M multiply-adds),
    ~1.2 for 3 x 784-128-10 at batch 32, ~1.45 for 3 x 784-300-10 at batch 32 (23 M).
    """
    share = min(1.0, w.macs * w.trials / PARALLEL_MACS)
    return 1.0 + (max(cores, 1) - 1) * 0.8 * share


def one_core_seconds(w: GroupWork) -> float:
    """Estimated training seconds of a group on one core (a pinned worker)."""
    return group_seconds(w) * thread_speedup(w, 2)


@dataclass(frozen=True)
class Choice:
    """What ``auto`` chose, with the estimate behind it (printed by ``sweeplab run``)."""

    name: str  # "local" or "processes"
    workers: int  # worker processes (1 for local)
    local_seconds: float  # estimated training time in one process
    parallel_seconds: float  # ... with one worker per core (start-up included); = local when not considered
    reason: str
    #: per group, at most this many trials per part (groups split so that every worker has one), or None
    split: tuple = ()

    def line(self) -> str:
        if self.name == "local":
            return f"local ({self.reason})"
        return (f"processes x{self.workers} ({self.reason}; "
                f"~{self.local_seconds / self.parallel_seconds:.1f}x faster than one process)")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def makespan(seconds: Sequence[float], workers: int) -> float:
    """Longest-first greedy schedule of jobs on ``workers`` equal workers: when the last one ends."""
    ends = [0.0] * max(workers, 1)
    for s in sorted(seconds, reverse=True):
        i = ends.index(min(ends))
        ends[i] += s
    return max(ends)


def choose(work: Sequence[GroupWork], n_cores: int | None = None) -> Choice:
    """``auto``: one process, or one worker process per core, whichever the model says is faster.

    Worker processes are chosen only with at least 2 cores, and when the longest-first
    schedule of the groups on one core each (plus a worker's start-up) is estimated at
    least :data:`AUTO_MIN_GAIN` shorter than training them one after another in one
    process with every core. Groups of several trials may be split in parts (a part per
    worker) when that shortens the schedule: trials train the same alone or together
    (``vmap``), so a split changes no result.
    """
    n = cores() if n_cores is None else n_cores
    local = sum(one_core_seconds(w) / thread_speedup(w, n) for w in work)
    if not work:
        return Choice("local", 1, local, local, "no groups planned ahead")
    if n < 2:
        return Choice("local", 1, local, local, "one core")
    one_core = [one_core_seconds(w) for w in work]
    whole = makespan(one_core, min(n, len(work))) + WORKER_START_SECONDS
    # Split the groups that alone outlast a fair share of the work, each into parts for every worker.
    share = sum(one_core) / n
    split = tuple(-(-w.trials // n) if w.trials > 1 and t > share else None for w, t in zip(work, one_core))
    parts = [t * _part(w.trials, lim) / w.trials for w, t, lim in zip(work, one_core, split)
             for _ in range(_count(w.trials, lim))]
    cut = makespan(parts, min(n, len(parts))) + WORKER_START_SECONDS if any(split) else float("inf")
    parallel, split = (cut, split) if cut < whole else (whole, ())
    n_parts = len(parts) if split else len(work)
    what = f"{len(work)} group{'s' if len(work) > 1 else ''}" + (f" in {n_parts} parts" if split else "")
    if n_parts < 2 or parallel > (1.0 - AUTO_MIN_GAIN) * local:
        if n_parts < 2:
            why = "one group: every core on it"
        elif len(work) == 1:
            why = "one group; a part of it per worker would not be faster"
        else:
            why = f"{len(work)} groups; a worker per core would not be faster"
        return Choice("local", 1, local, parallel, why)
    return Choice("processes", min(n, n_parts), local, parallel, what, split)


def _count(trials: int, limit: int | None) -> int:
    return 1 if not limit else -(-trials // limit)


def _part(trials: int, limit: int | None) -> int:
    return trials if not limit else min(trials, limit)


def longest_first(work: Sequence[GroupWork]) -> list[int]:
    """The order a parallel executor should start groups in: estimated longest first (stable)."""
    est = [one_core_seconds(w) for w in work]
    return sorted(range(len(work)), key=lambda i: -est[i])
