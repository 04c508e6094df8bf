"""The run directories a dashboard serves: discovery, ids, state and change stamps.

Runs are addressed by an id (a hash of the resolved directory), never by a
path from a URL, so a request can only reach the directories given on the
command line (or their direct children). Nothing here writes: stores are
opened read-only (:func:`sweeplab.store.load`), the writer lock is never
taken; whether a run is being written is read from the kernel's lock table
(``/proc/locks``), or, where there is none, from the driver's
``progress.json`` and whether its process is alive.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sweeplab.store import DB_NAME

try:
    from sweeplab.store.paths import LOCK_NAME
except ImportError:  # pragma: no cover - the store's layout moved
    LOCK_NAME = ".sweeplab.lock"

PROGRESS_NAME = "progress.json"


@dataclass
class RunEntry:
    """One served run directory."""

    id: str
    path: Path
    root: Path  # the directory given on the command line that contains it
    cache: dict = field(default_factory=dict, repr=False)


def run_id(path: Path) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:10]


def _is_run(d: Path) -> bool:
    return (d / DB_NAME).is_file() and not (d / DB_NAME).is_symlink()


def discover(roots: list[Path]) -> dict[str, RunEntry]:
    """Run directories under ``roots``: each root itself if it holds a store, else
    its direct children that do (symbolic links to elsewhere are not followed)."""
    found: dict[str, RunEntry] = {}
    for root in roots:
        root = root.resolve()
        candidates = [root] if _is_run(root) else []
        if not candidates and root.is_dir():
            try:
                children = sorted(root.iterdir())
            except OSError:
                children = []
            candidates = [c for c in children if not c.is_symlink() and c.is_dir() and _is_run(c)]
        for d in candidates:
            rid = run_id(d)
            found.setdefault(rid, RunEntry(rid, d, root))
    return found


def stamp(path: Path) -> tuple:
    """Changes whenever a group is committed: size and time of the database and its WAL."""
    out = []
    for name in (DB_NAME, DB_NAME + "-wal"):
        try:
            st = os.stat(path / name)
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [0, 0]
    return tuple(out)


def last_update(st: tuple) -> float | None:
    """Unix time of the last change of the store (from a :func:`stamp`)."""
    t = max(st[0], st[2])
    return t / 1e9 if t else None


def _flock_held(lock_path: Path) -> bool | None:
    """True/False: whether a process holds a ``flock`` on the file (Linux); None: cannot tell."""
    try:
        st = os.stat(lock_path)
    except OSError:
        return False
    try:
        with open("/proc/locks") as f:
            table = f.read()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[3] == "WRITE" and parts[5] == dev:
            return True
    return False


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


def read_progress(path: Path) -> dict | None:
    """The driver's ``progress.json`` (see :mod:`sweeplab.dashboard.progress_file`), or None."""
    p = path / PROGRESS_NAME
    try:
        if p.is_symlink() or p.stat().st_size > 65536:
            return None
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_running(path: Path, progress: dict | None) -> bool:
    """A live process holds the run directory's writer lock."""
    held = _flock_held(path / LOCK_NAME)
    if held is not None:
        return held
    return bool(progress and not progress.get("done") and _alive(progress.get("pid")))


def state(counts: dict, running: bool) -> str:
    """``running`` (lock held), ``finished`` (nothing pending) or ``interrupted``."""
    if running:
        return "running"
    pending = counts.get("total", 0) - counts.get("finished", 0) - counts.get("diverged", 0) - counts.get("pruned", 0)
    return "finished" if pending <= 0 else "interrupted"


def now() -> float:
    return time.time()
