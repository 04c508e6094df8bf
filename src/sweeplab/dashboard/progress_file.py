"""The driver's progress, written where a dashboard can read it without the writer lock.

:class:`ProgressFile` is a progress sink (:class:`sweeplab.engine.progress.Progress`)
that keeps ``RUN_DIR/progress.json`` up to date: the group in flight, its
epoch, the groups saved, the fraction of the work done and the ETA. The file
is replaced atomically (temporary file + ``os.replace``), at most once a
second, so a reader always sees a whole JSON object. It never fails a run:
if the directory cannot be written, the sink stops writing.

:func:`with_progress_file` wraps a display so the driver feeds both; that
one line is the whole hook in ``sweeplab run``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from sweeplab.engine.progress import Progress, WorkClock

NAME = "progress.json"


class ProgressFile(Progress):
    """Writes ``run_dir/progress.json`` from the engine's progress callbacks (≤ 1 write per ``every`` s).

    ``group``/``epoch`` are those of the group that reported last (several may train at once);
    ``saved`` counts the groups saved, in whatever order; a search's rounds add up.
    """

    indexed = True  # epoch_end and group_end receive the group's index

    def __init__(self, run_dir, every: float = 1.0, now=time.monotonic, wall=time.time):
        self.path = Path(run_dir) / NAME
        self.every, self.now, self.wall = every, now, wall
        self.clock = WorkClock(now=now)
        self.state = {"pid": os.getpid(), "group": None, "n_groups": 0, "group_trials": 0, "epoch": 0,
                      "epochs": 0, "saved": 0, "done": False}
        self._offset = 0  # groups of a search's earlier rounds
        self._sizes: dict[int, tuple[int, int]] = {}  # index -> (trials, epochs) of this run's groups
        self._last = -float("inf")
        self._dirty = False
        self.broken = False
        self._remove_stale()

    def _remove_stale(self) -> None:
        """Temporary files a killed run left between writing and renaming (the run holds the
        run directory's lock, so no other writer's file is among them)."""
        try:
            for stale in self.path.parent.glob(".progress-*.tmp"):
                stale.unlink(missing_ok=True)
        except OSError:
            pass

    # engine callbacks
    def run_start(self, groups) -> None:
        self.clock = WorkClock(groups, now=self.now)
        self._offset = self.state["saved"]
        self._sizes = {}
        self.state["n_groups"] = self._offset + len(groups)
        self._update(force=True)

    def group_start(self, index, n_groups, n_trials, epochs, label, steps=0) -> None:
        self.clock.group_start(index, n_trials, epochs, steps)
        self._sizes[index] = (int(n_trials), int(epochs))
        self.state.update(group=self._offset + int(index),
                          n_groups=max(self._offset + int(n_groups), self.state["n_groups"]),
                          group_trials=int(n_trials), epoch=0, epochs=int(epochs))
        self._update()

    def epoch_end(self, epoch, seconds, summary, index=None) -> None:
        self.clock.epoch_end(epoch, seconds, index)
        if index in self._sizes:
            trials, epochs = self._sizes[index]
            self.state.update(group=self._offset + int(index), group_trials=trials, epochs=epochs)
        self.state["epoch"] = int(epoch)
        self._update()

    def group_end(self, seconds, index=None) -> None:
        self.clock.group_end(seconds, index)
        self._update()

    def group_saved(self, index) -> None:
        self.state["saved"] += 1  # groups may be saved out of order under a parallel executor
        self._update()

    def close(self) -> None:
        """The run ended (finished or interrupted): the last state, marked done."""
        self.state["done"] = True
        self._update(force=True)

    # writing
    def _update(self, force: bool = False) -> None:
        self._dirty = True
        t = self.now()
        if not force and t - self._last < self.every:
            return
        self._last = t
        self._write()

    def flush(self) -> None:
        """Write a pending update now (e.g. at the next safe point)."""
        if self._dirty:
            self._last = self.now()
            self._write()

    def _write(self) -> None:
        if self.broken:
            return
        eta = self.clock.eta()
        data = {**self.state, "fraction": round(self.clock.fraction(), 4),
                "eta": None if eta is None else round(eta, 1), "updated": round(self.wall(), 3)}
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)
            tmp = None
            self._dirty = False
        except OSError:  # read-only or full disk: progress is optional, training is not
            self.broken = True
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


class Tee:
    """A display plus a :class:`ProgressFile`: every callback goes to both; other
    attributes (``__enter__``, ``close``, ...) are the display's."""

    def __init__(self, display, sink: ProgressFile):
        self.display, self.sink = display, sink

    def __getattr__(self, name):
        return getattr(self.display, name)

    @property
    def indexed(self) -> bool:
        """Whether the display takes the group's index (the sink always does)."""
        return bool(getattr(self.display, "indexed", False))

    def _display_kw(self, kw: dict) -> dict:
        return kw if self.indexed else {k: v for k, v in kw.items() if k != "index"}

    def __enter__(self):
        self.display.__enter__()
        return self

    def __exit__(self, *exc):
        self.sink.close()
        return self.display.__exit__(*exc)

    def run_start(self, groups):
        self.display.run_start(groups)
        self.sink.run_start(groups)

    def group_start(self, *args, **kw):
        self.display.group_start(*args, **kw)
        self.sink.group_start(*args, **kw)

    def epoch_end(self, *args, **kw):
        self.display.epoch_end(*args, **self._display_kw(kw))
        self.sink.epoch_end(*args, **kw)

    def group_end(self, *args, **kw):
        self.display.group_end(*args, **self._display_kw(kw))
        self.sink.group_end(*args, **kw)

    def group_saved(self, *args, **kw):
        self.display.group_saved(*args, **kw)
        self.sink.group_saved(*args, **kw)


def with_progress_file(display, run_dir) -> Tee:
    """``display`` that also keeps ``run_dir/progress.json`` current."""
    return Tee(display, ProgressFile(run_dir))
