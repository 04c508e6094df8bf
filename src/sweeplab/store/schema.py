"""The SQLite side of a results store: schema, migrations, JSON columns, one transaction helper.

Tables::

    meta(key PRIMARY KEY, value)            schema_version, study.*
    trials(trial_id PRIMARY KEY, ...)       one row per planned trial
    epochs(trial_id, split, metric, epoch, value)   PRIMARY KEY in that order
    artifacts(trial_id, kind, path, sha256, size)   PRIMARY KEY (trial_id, kind)
    study_trials(fingerprint, trial_id)     the trial set of each study fingerprint

Used by the writer (:mod:`sweeplab.store.sqlite`) and the read-only side
(:mod:`sweeplab.store.reader`); imports neither.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import StoreEnvironmentError, StoreError, one_line, sqlite_error
from sweeplab.records import PENDING, STATUSES


#: 1: the first layout. 2: ``artifacts.size`` and ``study_trials`` (the trial set of each
#: study fingerprint); a version-1 store is migrated when a writer opens it and read as is.
#: 3: the ``pruned`` status (search); the trials table is rebuilt with the new CHECK, rowids kept.
SCHEMA_VERSION = 3

_TRIALS_COLUMNS = f"""
    trial_id          TEXT PRIMARY KEY,
    config_id         TEXT NOT NULL,
    config            TEXT NOT NULL,
    overrides         TEXT NOT NULL,
    seed              INTEGER NOT NULL,
    repeat            INTEGER NOT NULL,
    fold              INTEGER,
    "group"           TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT '{PENDING}'
                      CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    epochs_run        INTEGER,
    diverged_epoch    INTEGER,
    stopped_epoch     INTEGER,
    best_epoch        INTEGER,
    n_params          INTEGER,
    compile_seconds   REAL,
    seconds_per_epoch REAL,
    epoch_seconds     TEXT,
    test              TEXT,
    final             TEXT,
    confusion         TEXT,
    created           TEXT NOT NULL,
    finished          TEXT
"""

_TRIAL_NAMES = tuple(f'"{line.split()[0].strip(chr(34))}"' for line in _TRIALS_COLUMNS.strip().splitlines()
                     if line.strip() and not line.strip().startswith("CHECK"))

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS trials ({_TRIALS_COLUMNS});
CREATE INDEX IF NOT EXISTS trials_config ON trials (config_id);
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id TEXT NOT NULL REFERENCES trials (trial_id),
    split    TEXT NOT NULL,
    metric   TEXT NOT NULL,
    epoch    INTEGER NOT NULL,
    value    REAL,
    PRIMARY KEY (trial_id, split, metric, epoch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS epochs_split_metric ON epochs (split, metric);
CREATE TABLE IF NOT EXISTS artifacts (
    trial_id TEXT NOT NULL REFERENCES trials (trial_id),
    kind     TEXT NOT NULL,
    path     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    size     INTEGER,
    PRIMARY KEY (trial_id, kind)
);
CREATE TABLE IF NOT EXISTS study_trials (
    fingerprint TEXT NOT NULL,
    trial_id    TEXT NOT NULL,
    PRIMARY KEY (fingerprint, trial_id)
) WITHOUT ROWID;
"""

#: Schema changes from version N to N + 1 (run in one transaction by the writer).
_MIGRATIONS = {
    1: (
        "ALTER TABLE artifacts ADD COLUMN size INTEGER",
        "CREATE TABLE IF NOT EXISTS study_trials (fingerprint TEXT NOT NULL, trial_id TEXT NOT NULL, "
        "PRIMARY KEY (fingerprint, trial_id)) WITHOUT ROWID",
    ),
    2: (  # SQLite cannot alter a CHECK: rebuild the table (sqlite.org/lang_altertable.html, 12 steps)
        f"CREATE TABLE trials_v3 ({_TRIALS_COLUMNS})",
        f"INSERT INTO trials_v3 (rowid, {', '.join(_TRIAL_NAMES)}) SELECT rowid, {', '.join(_TRIAL_NAMES)} FROM trials",
        "DROP TABLE trials",
        "ALTER TABLE trials_v3 RENAME TO trials",
        "CREATE INDEX IF NOT EXISTS trials_config ON trials (config_id)",
        "CREATE INDEX IF NOT EXISTS trials_status ON trials (status)",
    ),
}

STUDY_KEYS = ("name", "spec_text", "spec_json", "sweeplab_version", "created", "fingerprint")


# --------------------------------------------------------------------------- JSON columns


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__array__"):  # jax arrays
        return np.asarray(obj).tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def to_json(obj: Any) -> str:
    """JSON text of ``obj`` (numpy scalars/arrays allowed; NaN/inf kept)."""
    return json.dumps(obj, default=_json_default, separators=(",", ":"))


def from_json(text: str | None, where: str | None = None) -> Any:
    """Decode a JSON column; ``where`` ("trial 'x', column 'final'") names it in the :class:`StoreError`."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        if where is None:
            raise
        raise StoreError(f"{where}: corrupt JSON ({one_line(exc)[:120]}); the store is damaged") from None



# --------------------------------------------------------------------------- transactions


def rollback(conn: sqlite3.Connection) -> None:
    """ROLLBACK if a transaction is open; never raises (a failed ROLLBACK must not hide the real error)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass



@contextmanager
def transaction(conn: sqlite3.Connection, db_path: Path, what: str) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception.

    A SQLite failure becomes a one-line :class:`StoreError` (its
    :class:`StoreEnvironmentError` subclass for a full or read-only disk)
    saying ``what`` could not be done; any other exception is re-raised as it is.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        rollback(conn)
        raise sqlite_error(db_path, exc, what) from None
    except BaseException:
        rollback(conn)
        raise


def initialise(conn: sqlite3.Connection, db_path: Path, version: int) -> None:
    """Create the schema in an empty file (``version`` 0) or migrate an older one, in one transaction."""
    if version == SCHEMA_VERSION:
        return
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")  # migration 2 drops and renames the trials table
    try:
        _initialise(conn, db_path, version)
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")


def _initialise(conn: sqlite3.Connection, db_path: Path, version: int) -> None:
    with transaction(conn, db_path, "cannot initialise"):
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))
        else:
            for v in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[v]:
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))


# --------------------------------------------------------------------------- validation


def validate_db(conn: sqlite3.Connection, db_path: Path, *, allow_empty: bool) -> int:
    """Check that ``conn`` is a sweeplab store; return its schema version (0 if the file is empty).

    Versions 1..:data:`SCHEMA_VERSION` are accepted (a writer migrates older ones).
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise open_error(db_path, exc) from None
    if not tables:
        if allow_empty:
            return 0
        raise StoreError(f"{db_path}: empty database, not a sweeplab results store")
    missing = {"meta", "trials", "epochs", "artifacts"} - tables
    if missing:
        raise StoreError(
            f"{db_path}: not a sweeplab results store (missing tables: {', '.join(sorted(missing))})"
        )
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise open_error(db_path, exc) from None
    if row is None:
        raise StoreError(f"{db_path}: not a sweeplab results store (no schema_version in meta)")
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise StoreError(f"{db_path}: bad schema_version {str(row[0])[:40]!r}") from None
    if not 1 <= version <= SCHEMA_VERSION:
        newer = "a newer" if version > SCHEMA_VERSION else "an older"
        raise StoreError(
            f"{db_path}: schema_version {version} was written by {newer} sweeplab "
            f"(this one reads 1 to {SCHEMA_VERSION})"
        )
    return version


def open_error(db_path: Path, exc: sqlite3.Error) -> StoreError:
    err = sqlite_error(db_path, exc, "cannot open")
    if isinstance(err, StoreEnvironmentError):
        return err
    return StoreError(f"{db_path}: not a sweeplab results store ({one_line(exc)})")



def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None
