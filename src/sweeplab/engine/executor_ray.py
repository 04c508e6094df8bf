"""``--executor ray``: each group a Ray task on a cluster; the driver stays the only writer.

Each pending group is submitted at once as one Ray task with its resources
(``num_cpus`` per group, default 1; ``num_gpus``, default 0); Ray runs as
many at a time as the cluster has room for. A task carries only the group's
records (their configurations, a few kB); the worker rebuilds the data from
the configuration (:class:`sweeplab.trial.TrialContext`) out of the node's
dataset files (``$SWEEPLAB_DATA`` on each node). Ray keeps its worker
processes between tasks (``max_calls=0``, also for GPU tasks, whose default
is one task per process), so a worker's in-process data cache and compiled
programs serve every later group it trains: data is prepared once per worker
process, not once per group. The persistent compilation cache is each node's
own (``~/.cache/sweeplab/jax`` or ``$SWEEPLAB_JAX_CACHE`` there).

Progress: workers put their events on a small queue actor (zero CPUs, placed
on the driver's node, restarted if its node dies), which the driver drains
while it waits, so the progress display works as in a local run.

Faults: a task whose worker or node dies is run again by Ray (``max_retries``,
default 3); the driver commits a group only when its task returns, and at most
once, so nothing is lost or duplicated (a retried group trains from the start:
the same seed gives the same numbers). On an error or Ctrl-C the driver
cancels every outstanding task (``ray.cancel(force=True)``).

Ray is an optional extra: ``pip install 'sweeplab[ray]'``.
"""

from __future__ import annotations

from typing import Iterator

from sweeplab import _signals
from sweeplab.engine.executor import ExecutorError, GroupDone, GroupTask, train_task
from sweeplab.errors import UserError

POLL = 0.2
_cache_on = False


def _train_remote(task: GroupTask, queue) -> list:
    """The Ray task: train one group in a (reused) Ray worker process, its events to ``queue``."""
    global _cache_on
    if not _cache_on:
        from sweeplab.engine.cache import enable_compilation_cache

        enable_compilation_cache()
        _cache_on = True

    def emit(event) -> None:
        if queue is not None:
            try:
                queue.put_nowait(event)
            except Exception:  # progress is best effort; the results are what counts
                pass

    return train_task(task, emit)


_ADDRESSES = "auto, HOST:PORT (the head's port, as ray start --head printed it), ray://HOST:PORT"


def check_address(address: str | None) -> None:
    """Refuse an address that is not ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (the user's input: exit 2).

    Raises:
        UserError: ``address: <value>: accepted: ...`` (one line).
    """
    if address is None or address == "auto":
        return
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if (not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "://" in rest
            or any(c.isspace() or c in "/?#@" for c in host)):
        raise UserError(f"address: {address}: accepted: {_ADDRESSES}")


def _reachable(address: str | None, timeout: float = 10.0) -> None:
    """Refuse at once a ``HOST:PORT`` where nothing listens (``auto``, ``ray://`` and None are Ray's to resolve)."""
    import socket

    check_address(address)
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise ExecutorError(f"address: {address}: cannot connect to the Ray cluster: {e.strerror or e}; "
                            "start one with: ray start --head --port PORT") from e


def _quiet_raylet_notices():
    """Keep the raylet's notices ("A worker died...", "Task ... failed. There are 1 retries
    remaining") off the driver's stdout, where Ray's error thread prints them even with
    ``log_to_driver=False``: a retried death is handled, a final one is the run's one error
    line. They go to the ``sweeplab.ray`` logger (debug). Returns the undo (None if this
    Ray has no such hook: then its notices show as before)."""
    import logging

    try:
        from ray._private import worker as rw

        original = rw.print_to_stdstream
    except (ImportError, AttributeError):  # another Ray version: leave its output alone
        return None
    log = logging.getLogger("sweeplab.ray")

    def quiet(data, *args, **kw):
        if isinstance(data, dict) and data.get("pid") == "raylet":
            for line in data.get("lines") or ():
                log.debug("raylet: %s", line)
            return None
        return original(data, *args, **kw)

    rw.print_to_stdstream = quiet
    return lambda: setattr(rw, "print_to_stdstream", original)


class RayExecutor:
    """Trains each group as a Ray task.

    Args:
        address: the cluster: ``"auto"`` (one running on this machine), ``"HOST:PORT"``
            (its head, as ``ray start --head --port PORT`` printed), ``"ray://HOST:PORT"``
            (Ray Client); None: ``$RAY_ADDRESS`` if set, else a local Ray started for the run.
        num_cpus, num_gpus: resources of one group's task.
        max_retries: how often Ray runs a task again after its worker or node died.
    """

    #: a cluster trains many groups at once: the driver submits them longest first
    concurrency = 1 << 16

    def __init__(self, address: str | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
                 max_retries: int = 3) -> None:
        check_address(address)
        self.address = address
        self.num_cpus, self.num_gpus, self.max_retries = num_cpus, num_gpus, max_retries
        self._tasks: list[GroupTask] = []
        self._pending: dict = {}  # ObjectRef -> GroupTask
        self._yielded: set[int] = set()
        self._ray = None
        self._owns_ray = False
        self._queue = None
        self._remote = None
        self._unquiet = None

    def submit(self, task: GroupTask) -> None:
        if self._ray is None:
            self._tasks.append(task)
        else:
            self._launch(task)

    def results(self, emit=None) -> Iterator[GroupDone]:
        from sweeplab.engine.events import ignore

        emit = emit or ignore
        if self._ray is None and not self._tasks:
            return
        ray = self.connect()
        for task in self._tasks:
            self._launch(task)
        self._tasks = []
        while self._pending:
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=POLL)
            self._drain(emit)
            _signals.check()  # a safe point while the cluster trains
            for ref in ready:
                task = self._pending.pop(ref)
                results = self._get(ref, task)
                self._drain(emit)  # the group's last events before its results
                if task.index in self._yielded:
                    continue
                self._yielded.add(task.index)
                yield GroupDone(task, results)

    def cancel(self) -> None:
        self._tasks = []
        if self._ray is not None:
            for ref in list(self._pending):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or its node is gone
                    pass
        self._pending.clear()

    def close(self) -> None:
        self.cancel()
        if self._queue is not None:
            try:
                self._queue.shutdown(force=True)
            except Exception:
                pass
            self._queue = None
        if self._owns_ray and self._ray is not None:
            self._ray.shutdown()
        if self._unquiet is not None:
            self._unquiet()
        self._ray, self._owns_ray, self._remote, self._unquiet = None, False, None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------
    def connect(self):
        """Join the cluster (done by the first :meth:`results` if not before); returns the ray module.

        Raises:
            ExecutorError: Ray is not installed, or the cluster cannot be reached.
        """
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError as e:
            raise ExecutorError("executor: ray: Ray is not installed; pip install 'sweeplab[ray]'") from e
        if not ray.is_initialized():
            _reachable(self.address)  # ray.init retries an address where nothing listens for minutes
            self._unquiet = _quiet_raylet_notices()
            try:
                ray.init(address=self.address, log_to_driver=False, include_dashboard=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                if self._unquiet is not None:
                    self._unquiet()
                    self._unquiet = None
                where = self.address or "a local Ray"
                raise ExecutorError(f"address: {where}: cannot connect to the Ray cluster: "
                                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
            self._owns_ray = True
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        # Restarted if its node dies (the driver's node may be any node on one machine): the
        # events sent meanwhile are lost, progress goes on.
        self._queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here, "max_restarts": -1,
                                           "max_task_retries": -1})
        self._remote = ray.remote(max_calls=0)(_train_remote)
        self._ray = ray
        return ray

    def _launch(self, task: GroupTask) -> None:
        ref = self._remote.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                   max_retries=self.max_retries, retry_exceptions=False,
                                   name=f"sweeplab-group-{task.index + 1}").remote(task, self._queue)
        self._pending[ref] = task

    def _get(self, ref, task: GroupTask) -> list:
        """The task's results; its failure as one of sweeplab's errors where it is one.

        Raises:
            SweeplabError: the group's own error, raised where it trained (bad data on that node...).
            ExecutorError: Ray gave up on the task (its worker or node died on every try, out of
                memory, its result lost): a problem of the cluster, exit 1.
            Exception: any other exception the group's code raised: a bug, as in a local run.
        """
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # the group failed in training: its own exception
            cause = e.cause if getattr(e, "cause", None) is not None else e
            raise cause from None
        except ray.exceptions.RayError as e:  # Ray's own failure: retries exhausted, node lost, OOM
            first = (str(e).strip().splitlines() or [""])[0].strip()
            raise ExecutorError(
                f"group {task.index + 1} of {task.n_groups} ({task.group.label}): Ray could not run it "
                f"({type(e).__name__}{': ' + first[:200] if first else ''}; tried {self.max_retries + 1} "
                f"time(s)); nothing of it was saved, the groups saved before are kept: check the cluster "
                "(ray status; memory of its nodes) and run the same command again to resume") from e

    def _drain(self, emit) -> None:
        q = self._queue
        if q is None:
            return
        try:
            n = q.size()
            events = q.get_nowait_batch(n) if n else []
        except Exception:  # the queue actor is gone: progress stops, training does not
            return
        for ev in events:
            emit(ev)
