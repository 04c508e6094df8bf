"""``--executor processes``: one group per worker process on this machine.

Workers are started with the ``spawn`` method (JAX is not fork-safe) and live
for the whole run, so each keeps its data cache (``data.prepare``'s LRU) and
its compiled programs across the groups it trains; they share the persistent
compilation cache (:mod:`sweeplab.engine.cache`). Each worker gets its own
share of the cores: its CPU affinity is set to a disjoint set of cores and
XLA's Eigen thread pool is turned off, so ``N`` workers do not oversubscribe
the machine (see ``docs/scaling.md`` for what this buys).

The driver talks to each worker over its own pipe: it sends one task at a
time, the worker sends back the task's progress events and then its results
(or its exception). A worker that dies (killed, out of memory) breaks only its
own pipe: the driver notices (its process sentinel), starts a replacement and
gives the group to the next free worker, at most ``max_retries`` times; a
result that arrives for a group already yielded is dropped, so nothing is
lost or duplicated. The driver stays the only writer: workers never open the
store.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from typing import Iterator

from sweeplab import _signals
from sweeplab.errors import MachineError

#: how long (s) the driver waits on its workers between safe points for signals
POLL = 0.2


class WorkerDied(MachineError):
    """A group's worker died more often than the executor retries (a problem of the machine: exit 1)."""


def _cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def core_sets(workers: int, cores: list[int] | None = None) -> list[list[int] | None]:
    """Each worker's cores: a disjoint, even split when there are at least as many cores as workers, else None."""
    cores = _cores() if cores is None else cores
    if workers > len(cores):
        return [None] * workers
    per, extra = divmod(len(cores), workers)
    out, at = [], 0
    for i in range(workers):
        n = per + (1 if i < extra else 0)
        out.append(cores[at:at + n])
        at += n
    return out


def worker_env(threads: int) -> dict[str, str]:
    """Environment for a worker with ``threads`` cores: XLA's Eigen pool off for one core."""
    env = {}
    flags = os.environ.get("XLA_FLAGS", "")
    if threads <= 1 and "xla_cpu_multi_thread_eigen" not in flags:
        env["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return env


def _worker_main(conn, env: dict, cores, cache_dir, config: dict) -> None:
    """A worker process: set up threads and caches, then train tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it cancels and ends the workers
    _die_with_parent()
    os.environ.update(env)
    if cores:
        try:
            os.sched_setaffinity(0, cores)
        except (AttributeError, OSError):  # pragma: no cover - not Linux, or cores gone
            pass
    import jax  # after XLA_FLAGS and the affinity

    for k, v in config.items():
        jax.config.update(k, v)
    from sweeplab.engine.cache import enable_compilation_cache
    from sweeplab.engine.executor import train_task

    enable_compilation_cache(cache_dir)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if msg is None:
            return
        task = msg
        try:
            results = train_task(task, lambda ev: conn.send(("event", ev)))
        except BaseException as e:  # noqa: BLE001 - the driver raises it
            try:
                conn.send(("error", task.index, e))
            except Exception:  # unpicklable exception: its text
                conn.send(("error", task.index, RuntimeError(f"{type(e).__name__}: {e}")))
            continue
        conn.send(("done", task.index, results))


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the driver dies (even by SIGKILL)."""
    if sys.platform != "linux":
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        pass


class _Worker:
    def __init__(self, ctx, wid: int, cores, cache_dir, config: dict) -> None:
        self.wid = wid
        self.conn, child = ctx.Pipe(duplex=True)
        env = worker_env(len(cores)) if cores else {}
        self.proc = ctx.Process(target=_worker_main, args=(child, env, cores, cache_dir, config),
                                name=f"sweeplab-worker-{wid}", daemon=True)
        self.proc.start()
        child.close()
        self.task = None  # the GroupTask in flight
        self.cores = cores

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class ProcessExecutor:
    """Trains groups in ``workers`` spawned processes, one group per worker at a time.

    Args:
        workers: number of worker processes (default: one per core).
        max_retries: how often a group whose worker died is given to another worker.
        pin: give each worker its own cores (CPU affinity; XLA's Eigen pool off
            for a worker with one core); False: every worker sees every core.
    """

    def __init__(self, workers: int | None = None, *, max_retries: int = 3, pin: bool = True) -> None:
        self.n = workers or len(_cores())
        if self.n < 1:
            raise ValueError(f"workers must be at least 1; got {workers}")
        self.max_retries = max_retries
        self.pin = pin
        self._queue: deque = deque()
        self._outstanding: dict[int, object] = {}  # index -> task not yet yielded
        self._tries: dict[int, int] = {}
        self._workers: list[_Worker] = []
        self._next_id = 0
        self._cores = core_sets(self.n) if pin else [None] * self.n
        self._unhook = None
        self.deaths = 0  # workers that died while training (for tests and logs)

    @property
    def concurrency(self) -> int:
        """Groups trained at once (the driver submits the longest first when it is above 1)."""
        return self.n

    # -- protocol ------------------------------------------------------------------------------------
    def submit(self, task) -> None:
        self._queue.append(task)
        self._outstanding[task.index] = task
        self._tries.pop(task.index, None)  # indices restart with each run that reuses the pool

    def results(self, emit=None) -> Iterator:
        from multiprocessing.connection import wait

        from sweeplab.engine.events import ignore
        from sweeplab.engine.executor import GroupDone

        emit = emit or ignore
        self._start()
        while self._outstanding:
            self._dispatch()
            busy = [w for w in self._workers if w.task is not None]
            if not busy and not self._queue:
                break
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=POLL)
            _signals.check()  # a safe point while the workers train
            for w in busy:
                if w.conn in ready or w.proc.sentinel in ready:
                    done = self._read(w, emit)
                    for task, results in done:
                        if self._outstanding.get(task.index) is not task:
                            continue  # a retried group whose first result came after all (or an earlier run's)
                        self._outstanding.pop(task.index)
                        yield GroupDone(task, results)

    def cancel(self) -> None:
        self._queue.clear()
        self._outstanding.clear()
        self.close()

    def close(self) -> None:
        """End every worker (a worker still training is killed: its group was not yielded)."""
        for w in self._workers:
            if w.task is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self._workers:
            if w.task is None:
                w.proc.join(2)
            w.kill()
        self._workers = []
        if self._unhook is not None:
            self._unhook()
            self._unhook = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._unhook is None:
            self._unhook = _signals.on_hard_exit(self._kill_all)
        while len(self._workers) < min(self.n, max(len(self._outstanding), 1)):
            self._spawn(self._cores[len(self._workers) % len(self._cores)])

    def _spawn(self, cores) -> _Worker:
        import multiprocessing as mp

        import jax

        ctx = mp.get_context("spawn")
        cache_dir = None
        try:
            cache_dir = jax.config.jax_compilation_cache_dir
        except AttributeError:  # pragma: no cover
            pass
        config = {k: getattr(jax.config, k) for k in ("jax_numpy_rank_promotion", "jax_numpy_dtype_promotion",
                                                       "jax_enable_x64")}
        w = _Worker(ctx, self._next_id, cores, cache_dir or "off", config)
        self._next_id += 1
        self._workers.append(w)
        return w

    def _dispatch(self) -> None:
        for w in self._workers:
            if w.task is None and self._queue:
                task = self._queue.popleft()
                if task.index not in self._outstanding:
                    continue
                w.task = task
                try:
                    w.conn.send(task)
                except OSError:  # died while idle: noticed by its sentinel
                    pass

    def _read(self, w: _Worker, emit) -> list:
        """Everything ``w`` has sent; on its death, its group goes back to the queue."""
        out = []
        while True:
            try:
                if not w.conn.poll():
                    break
                msg = w.conn.recv()
            except Exception:  # end of file, or a message cut short by the worker's death
                w.proc.join(1)
                if w.proc.is_alive():
                    raise
                break
            kind = msg[0]
            if kind == "event":
                emit(msg[1])
            elif kind == "done":
                out.append((w.task, msg[2]))
                w.task = None
            else:  # "error": the group failed in the worker; the driver raises it
                w.task = None
                raise msg[2]
        if not w.proc.is_alive():
            self._replace(w)
        return out

    def _replace(self, w: _Worker) -> None:
        task, w.task = w.task, None
        w.kill()
        self._workers.remove(w)
        if task is not None and task.index in self._outstanding:
            self.deaths += 1
            tries = self._tries[task.index] = self._tries.get(task.index, 0) + 1
            if tries > self.max_retries:
                raise WorkerDied(f"group {task.index + 1} of {task.n_groups} ({task.group.label}): its worker "
                                 f"process died {tries} times (exit code {w.proc.exitcode}); nothing of it was "
                                 "saved, the groups saved before are kept: run the same command again to "
                                 "resume (out of memory? try fewer --workers or a smaller --max-group-size)")
            self._queue.appendleft(task)
        self._spawn(w.cores)

    def _kill_all(self) -> None:
        for w in list(self._workers):
            if w.proc.is_alive():
                w.proc.kill()
