"""Errors of the results store, and turning OS/SQLite failures into one line.

Two kinds, so the CLI can choose the exit code (both in the one error tree
of :mod:`sweeplab.errors`):

* :class:`StoreError`: the store or the run directory is not usable as it is
  (not a store, a newer schema, damaged rows, an artifact path leaving the
  run directory, another process writing it). A ``UserError``: exit code 2.
* :class:`StoreEnvironmentError` (a :class:`StoreError` and a ``MachineError``): the machine is in
  the way (disk full, read-only file system, permission denied, I/O error).
  Nothing is wrong with the store; free space or fix the mount and run the
  same command again. Exit code 1.
"""

from __future__ import annotations

import errno
import sqlite3

from sweeplab.errors import MachineError, UserError

__all__ = ["StoreError", "StoreEnvironmentError", "one_line", "os_error", "sqlite_error"]

#: errno values that mean "the environment", not "the store".
_ENV_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EMFILE,
               errno.ENFILE, errno.ENOMEM}
#: SQLite primary result codes (``sqlite_errorname`` prefix) that mean the same.
_ENV_SQLITE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM",
               "SQLITE_NOMEM", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOLFS")


class StoreError(UserError):
    """A results store problem, with a one-line message naming the file."""


class StoreEnvironmentError(StoreError, MachineError):
    """The store could not be written or read because of the machine (disk full, read-only, I/O)."""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _hint(text: str) -> str:
    low = text.lower()
    if "full" in low or "no space" in low or "quota" in low:
        return "; free some space and run the same command again to resume"
    if "read-only" in low or "readonly" in low:
        return " (read-only: the run directory must be writable)"
    return ""


def os_error(path, exc: OSError, what: str = "cannot write") -> StoreError:
    """One-line :class:`StoreError` for an ``OSError`` on ``path`` (environment errors get the subclass)."""
    text = exc.strerror or one_line(exc)
    cls = StoreEnvironmentError if exc.errno in _ENV_ERRNOS else StoreError
    return cls(f"{path}: {what} ({text}){_hint(text) if cls is StoreEnvironmentError else ''}")


def sqlite_error(path, exc: sqlite3.Error, what: str) -> StoreError:
    """One-line :class:`StoreError` for a SQLite failure (disk full, read-only... get the subclass)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = one_line(exc)
    env = name.startswith(_ENV_SQLITE) or any(w in text.lower() for w in ("disk is full", "readonly", "disk i/o"))
    cls = StoreEnvironmentError if env else StoreError
    return cls(f"{path}: {what} ({text}){_hint(text) if env else ''}")
