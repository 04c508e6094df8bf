"""The writer lock of a run directory, and ``--fresh`` (earlier results moved aside, never deleted).

One process writes a run directory: it holds an exclusive ``flock`` on
``RUN_DIR/.sweeplab.lock`` from before it reads which trials are finished
until its last commit (the kernel releases it if the process dies). A
:class:`RunLock` that is released before any store was created removes the
lock file and the directories it created, so a run that fails while
planning leaves nothing behind in ``--out``.
"""

from __future__ import annotations

import errno
import os
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError, os_error
from .paths import DB_NAME, LOCK_NAME


class RunLock:
    """Exclusive writer lock on ``run_dir`` (created if needed). Use as a context manager or :meth:`release`.

    Raises:
        StoreError: another process holds it, or the lock file is not a regular file.
        StoreEnvironmentError: the directory cannot be created or written (read-only, disk full).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None
        self._created_dirs: list[Path] = []
        self._created_file = False
        self._make_dirs()
        try:
            self._acquire()
        except BaseException:
            self._remove_created_dirs()
            raise

    # ---- acquiring

    def _make_dirs(self) -> None:
        missing = []
        p = Path(os.path.abspath(self.run_dir))
        while not p.exists() and not p.is_symlink() and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                self._remove_created_dirs()
                raise os_error(d, exc, "cannot create run directory") from None
            self._created_dirs.append(d)
        if not self.run_dir.is_dir():
            raise StoreError(f"{self.run_dir}: not a directory")

    def _acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        path = self.run_dir / LOCK_NAME
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        while True:
            created = False
            try:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | nofollow, 0o644)
                    created = True
                except FileExistsError:
                    fd = os.open(path, os.O_RDWR | nofollow)
            except IsADirectoryError:
                raise StoreError(f"{path}: is a directory, not a sweeplab lock file (remove it)") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise StoreError(f"{path}: is a symbolic link, not a sweeplab lock file (remove it)") from None
                raise os_error(path, exc, "cannot create the lock file") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                if created:
                    _unlink_quietly(path)
                raise StoreError(f"{self.run_dir}: another sweeplab process is writing this run directory") from None
            # The holder before us may have removed the file after we opened it: lock the current one.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd, self._created_file = fd, created
                return
            os.close(fd)

    # ---- releasing

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Release the lock; if no store was created, remove the lock file and the directories made for it."""
        if self._fd is None:
            return
        if self._created_file and not (self.run_dir / DB_NAME).exists():
            _unlink_quietly(self.run_dir / LOCK_NAME)
        os.close(self._fd)
        self._fd = None
        self._remove_created_dirs()

    def _remove_created_dirs(self) -> None:
        for d in reversed(self._created_dirs):
            try:
                d.rmdir()  # only if empty
            except OSError:
                break
        self._created_dirs = []

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            if self._fd is not None:
                os.close(self._fd)
        except Exception:
            pass

    # ---- --fresh

    def move_aside(self) -> Path | None:
        """Rename the run directory to ``<dir>.old-<UTC time>`` (one atomic rename) and lock a new, empty one.

        Nothing is deleted. Returns the new name of the earlier directory, or
        None if it held nothing but the lock file.
        """
        if self._fd is None:
            raise StoreError(f"{self.run_dir}: lock not held")
        if not [e for e in os.listdir(self.run_dir) if e != LOCK_NAME]:
            return None
        here = Path(os.path.abspath(self.run_dir))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside, n = here.with_name(f"{here.name}.old-{stamp}"), 1
        while aside.exists() or aside.is_symlink():
            aside, n = here.with_name(f"{here.name}.old-{stamp}-{n}"), n + 1
        try:
            os.rename(here, aside)
        except OSError as exc:
            raise StoreError(
                f"{self.run_dir}: cannot move the earlier results aside to {aside.name} ({exc.strerror or exc}); "
                "move them yourself or choose another --out") from None
        old_fd, self._fd = self._fd, None
        self._created_dirs, self._created_file = [], False
        try:
            self._make_dirs()
            self._acquire()
        finally:
            _unlink_quietly(aside / LOCK_NAME)
            os.close(old_fd)
        return aside


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
