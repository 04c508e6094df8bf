"""The results store: one SQLite database per run directory.

Layout of a run directory::

    RUN_DIR/results.sqlite                  the database (this module)
    RUN_DIR/trials/<trial_id>/params.npz     final parameters of a trial
    RUN_DIR/trials/<trial_id>/predictions.npz  test-set outputs of a trial
    RUN_DIR/.sweeplab.lock                  held by the one writing process

Tables::

    meta(key PRIMARY KEY, value)            schema_version, study.*
    trials(trial_id PRIMARY KEY, ...)       one row per planned trial
    epochs(trial_id, split, metric, epoch, value)   PRIMARY KEY in that order
    artifacts(trial_id, kind, path, sha256) PRIMARY KEY (trial_id, kind)

Durability and atomicity:

* WAL journal, ``synchronous=FULL``. A commit happens once per trained
  group (seconds to minutes apart), so the extra fsync of FULL costs
  nothing measurable, and it makes "committed" mean "survives a power cut"
  too: with NORMAL a power loss may roll back the last groups although
  their ``.npz`` files are already in place and the CLI reported them done.
* :meth:`Store.commit_group` writes every ``.npz`` of the group to a temporary
  file (fsynced), then in ONE ``BEGIN IMMEDIATE`` transaction inserts the
  epochs, updates the trial rows and the artifacts, ``os.replace``-s the
  files into place and commits. A crash at any point leaves the whole group
  committed or none of it; files of an uncommitted group may exist but no
  row references them and the rerun overwrites them.
* Arrays are written with ``allow_pickle=False`` (object arrays are
  refused) and read with ``np.load(allow_pickle=False)``; the sha256 stored
  in ``artifacts`` is checked on load.
* Only the driver writes: a :class:`Store` holds an exclusive ``flock`` on
  ``RUN_DIR/.sweeplab.lock`` (released by the kernel if the process dies).
  Readers use :func:`sweeplab.store.load`, which opens the database read-only.
* :meth:`Store.close` switches the file back to the rollback journal
  (``journal_mode=DELETE``) when it is the last connection, so a finished
  run directory is one self-contained file and a read-only reader creates
  no ``-wal``/``-shm`` files next to it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import statistics
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

import numpy as np

from .errors import StoreEnvironmentError, StoreError, one_line, os_error, sqlite_error
from .lock import RunLock
from .paths import (
    ARTIFACT_KINDS,
    DB_NAME,
    LOCK_NAME,
    TRIAL_ID_RE as _TRIAL_ID_RE,
    TRIALS_DIR,
    check_dir_inside,
    is_commit_temp,
    open_regular,
    remove_stale_temps,
    sha256_fd,
    unlink_inside,
    why_damaged,
    why_unsafe,
)
from .records import DIVERGED, FINISHED, PENDING, STATUSES, TrialRecord, TrialResult

#: 1: the first layout. 2: ``artifacts.size`` and ``study_trials`` (the trial set of each
#: study fingerprint); a version-1 store is migrated when a writer opens it and read as is.
SCHEMA_VERSION = 2
#: Study file texts above this size are refused (a study is a page of TOML, not a data set).
MAX_STUDY_TEXT = 16 * 1024 * 1024

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS trials (
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
);
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
}

_STUDY_KEYS = ("name", "spec_text", "spec_json", "sweeplab_version", "created", "fingerprint")

__all__ = ["SCHEMA_VERSION", "DB_NAME", "Store", "StoreError", "StoreEnvironmentError", "RunLock",
           "study_fingerprint", "finished_ids", "LOCK_NAME"]


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def study_fingerprint(trial_ids: Iterable[str]) -> str:
    """The fingerprint of a study: a hash of the set of its trial ids.

    A trial id is already the hash of the trial's resolved configuration,
    seed and fold, so two study files have the same fingerprint exactly when
    they define the same trials: cosmetic edits (description, ``[report]``,
    comments, key order) keep it, any edit of what is trained changes it.
    """
    return hashlib.sha256("\n".join(sorted(set(trial_ids))).encode()).hexdigest()[:16]


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    return float(v)  # NaN becomes NULL in SQLite, inf is kept


def check_trial_id(trial_id: str) -> str:
    if not isinstance(trial_id, str) or not _TRIAL_ID_RE.match(trial_id) or trial_id in (".", ".."):
        raise StoreError(
            f"invalid trial_id {trial_id!r}: expected letters, digits, '_', '-' or '.' (it names a folder)"
        )
    return trial_id


def _flatten_arrays(arrays: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Flat ``"layer/name" -> ndarray``; nested dicts are joined with '/'."""
    flat: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_arrays(value, name + "/"))
            continue
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise StoreError(f"array {name!r} has dtype object; only numeric arrays are saved (never pickle)")
        flat[name] = arr
    return flat


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_npz_tmp(directory: Path, name: str, arrays: Mapping[str, Any]) -> tuple[Path, str]:
    """Write ``arrays`` as an ``.npz`` to a temporary file in ``directory``.

    Same format as ``np.savez`` (a zip of ``.npy`` members), written with
    ``allow_pickle=False``; fsynced. Returns (temporary path, sha256).
    """
    flat = _flatten_arrays(arrays)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, arr in flat.items():
                    with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                        np.lib.format.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        digest = hashlib.sha256()
        with open(tmp, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return Path(tmp), digest.hexdigest()
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_one_line = one_line


def _rollback(conn: sqlite3.Connection) -> None:
    """ROLLBACK if a transaction is open; never raises (a failed ROLLBACK must not hide the real error)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


# --------------------------------------------------------------------------- reading (shared by Store and Run)


def validate_db(conn: sqlite3.Connection, db_path: Path, *, allow_empty: bool) -> int:
    """Check that ``conn`` is a sweeplab store; return its schema version (0 if the file is empty).

    Versions 1..:data:`SCHEMA_VERSION` are accepted (a writer migrates older ones).
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise _open_error(db_path, exc) from None
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
        raise _open_error(db_path, exc) from None
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


def _open_error(db_path: Path, exc: sqlite3.Error) -> StoreError:
    err = sqlite_error(db_path, exc, "cannot open")
    if isinstance(err, StoreEnvironmentError):
        return err
    return StoreError(f"{db_path}: not a sweeplab results store ({_one_line(exc)})")


def read_study(conn: sqlite3.Connection) -> dict | None:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'study.%'").fetchall())
    if "study.name" not in rows:
        return None
    out: dict[str, Any] = {}
    for key in _STUDY_KEYS:
        value = rows.get(f"study.{key}")
        out[key] = from_json(value, "meta 'study.spec_json'") if key == "spec_json" else value
    return out


def current_fingerprint(conn: sqlite3.Connection) -> str | None:
    """The fingerprint of the study run last, or None (a store written before fingerprints: every trial is current)."""
    row = conn.execute("SELECT value FROM meta WHERE key='study.fingerprint'").fetchone()
    if row is None or not _has_table(conn, "study_trials"):
        return None
    return row[0]


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def current_filter(conn: sqlite3.Connection, column: str = "trial_id") -> tuple[str, tuple]:
    """SQL condition (and its arguments) selecting the trials of the current study; ``("1", ())`` for all."""
    fp = current_fingerprint(conn)
    if fp is None:
        return "1", ()
    return f"{column} IN (SELECT trial_id FROM study_trials WHERE fingerprint=?)", (fp,)


def read_config(conn: sqlite3.Connection, trial_id: str, db_path: Path) -> dict:
    row = conn.execute("SELECT config FROM trials WHERE trial_id=?", (trial_id,)).fetchone()
    if row is None:
        raise StoreError(f"{db_path}: no trial {trial_id!r}")
    return from_json(row[0], f"{db_path}: trial {trial_id!r}, column 'config'")


def _artifact_size_sql(conn: sqlite3.Connection) -> str:
    cols = {r[1] for r in conn.execute("PRAGMA table_info(artifacts)")}
    return "size" if "size" in cols else "NULL"


def read_npz(conn: sqlite3.Connection, run_dir: Path, db_path: Path, trial_id: str, kind: str) -> dict[str, np.ndarray]:
    """The arrays of one artifact, after checking its path stays in ``run_dir`` and its size and checksum."""
    row = conn.execute(
        f"SELECT path, sha256, {_artifact_size_sql(conn)} FROM artifacts WHERE trial_id=? AND kind=?",
        (trial_id, kind),
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (trial_id,)).fetchone() is None:
            raise StoreError(f"{db_path}: no trial {trial_id!r}")
        raise StoreError(f"{db_path}: trial {trial_id!r} has no saved {kind}")
    rel, sha, size = row
    unsafe = why_unsafe(run_dir, rel)
    if unsafe:  # refused before anything is opened
        raise StoreError(f"{db_path}: trial {trial_id!r}: {kind} path {str(rel)[:200]!r} {unsafe}; the store is damaged")
    path = run_dir / rel
    try:
        f = os.fdopen(open_regular(path), "rb")
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {kind} of trial {trial_id!r} ({exc.strerror or _one_line(exc)})") from None
    with f:
        if size is not None and os.fstat(f.fileno()).st_size != int(size):
            raise StoreError(f"{path}: checksum does not match the store (size differs: file changed or truncated)")
        try:
            actual = sha256_fd(f)
        except OSError as exc:
            raise StoreError(f"{path}: cannot read {kind} of trial {trial_id!r} ({_one_line(exc)})") from None
        if actual != sha:
            raise StoreError(f"{path}: checksum does not match the store (file changed or corrupt)")
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise StoreError(f"{path}: unreadable {kind} file ({_one_line(exc)})") from None


def verify_artifacts(conn: sqlite3.Connection, run_dir: Path, trial_ids: Iterable[str] | None = None) -> dict[str, str]:
    """``{trial_id: reason}`` for finished or diverged trials whose artifacts are damaged.

    Damaged: no ``params`` row, a path that is absolute, has ``..``, leads
    outside the run directory or is not a regular file, a missing file, a
    size or sha256 that differs from the store, or an unreadable file.
    Cheap: one read of each file, nothing is parsed. ``trial_ids`` limits the
    check (default: every trial).
    """
    wanted = None if trial_ids is None else set(trial_ids)
    arts: dict[str, list[tuple]] = {}
    for tid, kind, rel, sha, size in conn.execute(
        f"SELECT trial_id, kind, path, sha256, {_artifact_size_sql(conn)} FROM artifacts ORDER BY trial_id, kind"
    ):
        arts.setdefault(tid, []).append((kind, rel, sha, size))
    damaged: dict[str, str] = {}
    for (tid,) in conn.execute("SELECT trial_id FROM trials WHERE status IN (?, ?) ORDER BY rowid", (FINISHED, DIVERGED)):
        if wanted is not None and tid not in wanted:
            continue
        rows = arts.get(tid, [])
        reasons = [] if any(k == "params" for k, *_ in rows) else ["params: not in the store"]
        reasons += [r for r in (why_damaged(run_dir, *row) for row in rows) if r]
        if reasons:
            damaged[tid] = "; ".join(reasons)
    return damaged


def open_readonly(run_dir: Path) -> sqlite3.Connection:
    """A read-only connection to ``run_dir/results.sqlite`` (validated); :class:`StoreError` if there is none.

    A store left in WAL mode on a read-only mount cannot be opened the usual
    way (SQLite needs to create ``-shm``); if no ``-wal`` file holds
    uncommitted pages, it is opened as immutable, otherwise the error says
    the directory is read-only.
    """
    path = Path(run_dir) / DB_NAME
    if not path.is_file():
        raise StoreError(f"{run_dir}: no results store here ({DB_NAME} not found)")
    base = "file:" + quote(str(path.resolve()))
    conn = None
    try:
        try:
            conn = sqlite3.connect(base + "?mode=ro", uri=True, timeout=30.0)
            validate_db(conn, path, allow_empty=False)
        except StoreEnvironmentError:
            if conn is not None:
                conn.close()
            conn = None
            if not _wal_header(path):
                raise
            if Path(str(path) + "-wal").exists():
                raise StoreEnvironmentError(
                    f"{path}: read-only: a store in WAL mode with a -wal file needs a writable directory") from None
            conn = sqlite3.connect(base + "?mode=ro&immutable=1", uri=True, timeout=30.0)
            validate_db(conn, path, allow_empty=False)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise _open_error(path, exc) from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def _wal_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


def finished_ids(run_dir: str | os.PathLike, *, verify: bool = True) -> set[str]:
    """Trials of ``run_dir`` that a resume skips, read without writing anything.

    FINISHED or DIVERGED trials, minus (``verify``) those whose artifacts
    are damaged (:func:`verify_artifacts`: they are trained again). An empty
    set when the directory has no store yet; nothing is created.
    """
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return set()
    conn = open_readonly(run_dir)
    try:
        done = {r[0] for r in conn.execute(
            "SELECT trial_id FROM trials WHERE status IN (?, ?)", (FINISHED, DIVERGED))}
        if verify:
            done -= set(verify_artifacts(conn, run_dir, done))
        return done
    except sqlite3.DatabaseError as exc:
        raise sqlite_error(run_dir / DB_NAME, exc, "cannot read the trials") from None
    finally:
        conn.close()


# --------------------------------------------------------------------------- the writer


class Store:
    """Read-write results store of one run directory (the driver's handle).

    ``Store(run_dir)`` creates the directory and ``results.sqlite`` if needed,
    takes the writer lock, validates the schema (migrating an older one) and
    removes commit temporary files a killed run left behind. ``lock`` may be
    a :class:`RunLock` the caller already holds (it stays the caller's to
    release), True to take one, or False (tests, read-only use). Use as a
    context manager or call :meth:`close`.
    """

    def __init__(self, run_dir: str | os.PathLike, *, lock: bool | RunLock = True):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._lock: RunLock | None = None
        self._own_lock = False
        if isinstance(lock, RunLock):
            if not lock.held or Path(os.path.abspath(lock.run_dir)) != Path(os.path.abspath(self.run_dir)):
                raise StoreError(f"{self.run_dir}: the lock given is not held on this run directory")
            self._lock = lock
        elif lock:
            self._lock, self._own_lock = RunLock(self.run_dir), True
        else:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise os_error(self.run_dir, exc, "cannot create run directory") from None
            if not self.run_dir.is_dir():
                raise StoreError(f"{self.run_dir}: not a directory")
        try:
            self._open()
            if self._lock is not None:
                remove_stale_temps(self.run_dir)
        except BaseException:
            self.close()
            raise

    # ---- lifecycle

    def _open(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a sweeplab results store")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise _open_error(self.path, exc) from None
        self._conn = conn
        # Validate before any pragma that would write to a foreign file.
        version = validate_db(conn, self.path, allow_empty=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if version == 0:
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute("COMMIT")
            elif version < SCHEMA_VERSION:
                self._migrate(version)
        except sqlite3.Error as exc:
            _rollback(conn)
            raise sqlite_error(self.path, exc, "cannot initialise") from None

    def _migrate(self, version: int) -> None:
        """Bring an older store to :data:`SCHEMA_VERSION` in one transaction (data kept as is)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for v in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[v]:
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                _rollback(conn)
                # Best effort: leave a single self-contained file behind
                # (fails harmlessly while a reader is connected).
                conn.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.Error:
                pass
            conn.close()
        lock, self._lock = self._lock, None
        if lock is not None and self._own_lock:
            lock.release()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            self.close()
        except Exception:
            pass

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: store is closed")
        return self._conn

    def _write(self, what: str, statements) -> None:
        """Run ``statements(conn)`` in one ``BEGIN IMMEDIATE`` transaction; SQLite errors become one line."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            statements(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise sqlite_error(self.path, exc, what) from None
        except BaseException:
            _rollback(conn)
            raise

    # ---- study

    def set_study(self, name: str, spec_text: str, spec_json: dict, trial_ids: Iterable[str] | None = None) -> None:
        """Record the study (name, file text, resolved spec, sweeplab version) as the current one.

        With ``trial_ids`` (the study's trials), the study's fingerprint
        (:func:`study_fingerprint`) and its trial set are stored too: readers
        then show only these trials by default (``load(run_dir, all=True)``
        shows every trial ever stored). Calling it again (resume) updates the
        values and keeps the first ``created`` time.
        """
        from sweeplab import __version__

        if len(spec_text) > MAX_STUDY_TEXT:
            raise StoreError(
                f"{self.path}: the study text is {len(spec_text):,} characters; "
                f"the store keeps study files up to {MAX_STUDY_TEXT:,}"
            )
        values = {
            "name": str(name),
            "spec_text": str(spec_text),
            "spec_json": to_json(spec_json),
            "sweeplab_version": __version__,
        }
        ids = None if trial_ids is None else sorted(set(trial_ids))
        if ids is not None:
            values["fingerprint"] = study_fingerprint(ids)

        def statements(conn):
            for key, value in values.items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"study.{key}", value))
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('study.created', ?)", (_now(),))
            if ids is not None:
                conn.executemany(
                    "INSERT OR IGNORE INTO study_trials (fingerprint, trial_id) VALUES (?, ?)",
                    [(values["fingerprint"], t) for t in ids],
                )

        self._write("cannot record the study", statements)

    def study(self) -> dict | None:
        """``{name, spec_text, spec_json, sweeplab_version, created, fingerprint}`` or None."""
        return read_study(self.conn)

    # ---- trials

    def register(self, records: Iterable[TrialRecord]) -> None:
        """Insert planned trials as ``pending``; trials already present are left as they are."""
        now = _now()
        rows = []
        for r in records:
            check_trial_id(r.trial_id)
            row = (r.trial_id, str(r.config_id), to_json(r.config), to_json(r.overrides), int(r.seed),
                   int(r.repeat), _opt_int(r.fold), str(r.group), PENDING, now)
            for value in row:
                if isinstance(value, int) and not -(2**63) <= value < 2**63:
                    raise StoreError(f"trial {r.trial_id!r}: {value} does not fit a 64-bit integer (seed too large?)")
            rows.append(row)
        if not rows:
            return
        self._write("cannot register trials", lambda conn: conn.executemany(
            'INSERT OR IGNORE INTO trials (trial_id, config_id, config, overrides, seed, repeat, fold, "group", status, created) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        ))

    def finished_ids(self) -> set[str]:
        """Trials that are FINISHED or DIVERGED (skipped on resume)."""
        try:
            rows = self.conn.execute(
                "SELECT trial_id FROM trials WHERE status IN (?, ?)", (FINISHED, DIVERGED)
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise sqlite_error(self.path, exc, "cannot read the trials") from None
        return {r[0] for r in rows}

    def status_counts(self) -> dict[str, int]:
        """Number of trials per status (all statuses present, zeros included)."""
        counts = {s: 0 for s in STATUSES}
        for status, n in self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            counts[status] = n
        return counts

    def verify_artifacts(self, trial_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``{trial_id: reason}`` of finished/diverged trials whose files are damaged (see :func:`verify_artifacts`)."""
        try:
            return verify_artifacts(self.conn, self.run_dir, trial_ids)
        except sqlite3.DatabaseError as exc:
            raise sqlite_error(self.path, exc, "cannot read the artifacts") from None

    def reset_trials(self, trial_ids: Iterable[str]) -> None:
        """Make trials pending again (their epochs and artifact rows are dropped; files stay until overwritten)."""
        ids = [(t,) for t in trial_ids]
        if not ids:
            return

        def statements(conn):
            conn.executemany("DELETE FROM epochs WHERE trial_id=?", ids)
            conn.executemany("DELETE FROM artifacts WHERE trial_id=?", ids)
            conn.executemany(
                "UPDATE trials SET status=?, epochs_run=NULL, diverged_epoch=NULL, stopped_epoch=NULL, "
                "best_epoch=NULL, n_params=NULL, compile_seconds=NULL, seconds_per_epoch=NULL, epoch_seconds=NULL, "
                "test=NULL, final=NULL, confusion=NULL, finished=NULL WHERE trial_id=?",
                [(PENDING, t) for (t,) in ids],
            )

        self._write("cannot reset damaged trials", statements)

    def commit_group(self, results: Iterable[TrialResult]) -> None:
        """Persist a trained group in ONE transaction (all of it or none of it)."""
        results = list(results)
        if not results:
            return
        seen: set[str] = set()
        for r in results:
            check_trial_id(r.trial_id)
            if r.trial_id in seen:
                raise StoreError(f"{self.path}: trial {r.trial_id!r} appears twice in one group")
            seen.add(r.trial_id)
            if r.status not in (FINISHED, DIVERGED):
                raise StoreError(
                    f"trial {r.trial_id!r}: status {r.status!r} cannot be committed (expected {FINISHED!r} or {DIVERGED!r})"
                )
        conn = self.conn
        staged: list[tuple[Path, Path]] = []  # (temporary, final)
        artifacts: list[tuple[str, str, str, str, int]] = []
        old_files: list[str] = []
        try:
            # 1. Arrays to temporary files (outside the write lock).
            for r in results:
                tdir = self._trial_dir(r.trial_id)
                for kind in ARTIFACT_KINDS:
                    arrays = getattr(r, kind)
                    if arrays is None:
                        continue
                    tmp, sha = write_npz_tmp(tdir, kind, arrays)
                    final = tdir / f"{kind}.npz"
                    staged.append((tmp, final))
                    artifacts.append((r.trial_id, kind, f"{TRIALS_DIR}/{r.trial_id}/{kind}.npz", sha,
                                      tmp.stat().st_size))
            # 2. One transaction for every row of the group. The trials trained
            # together share a group id (their time per epoch is the group's).
            group_id = hashlib.sha256(" ".join(sorted(seen)).encode()).hexdigest()[:12]
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = _now()
                for r in results:
                    if conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (r.trial_id,)).fetchone() is None:
                        raise StoreError(f"{self.path}: trial {r.trial_id!r} was not registered")
                    old_files += [
                        p for (p,) in conn.execute("SELECT path FROM artifacts WHERE trial_id=?", (r.trial_id,))
                    ]
                    conn.execute("DELETE FROM epochs WHERE trial_id=?", (r.trial_id,))
                    conn.execute("DELETE FROM artifacts WHERE trial_id=?", (r.trial_id,))
                    conn.executemany(
                        "INSERT INTO epochs (trial_id, split, metric, epoch, value) VALUES (?, ?, ?, ?, ?)",
                        _epoch_rows(r),
                    )
                    conn.execute(
                        "UPDATE trials SET status=?, epochs_run=?, diverged_epoch=?, stopped_epoch=?, best_epoch=?, "
                        "n_params=?, compile_seconds=?, seconds_per_epoch=?, epoch_seconds=?, test=?, final=?, "
                        'confusion=?, finished=?, "group"=? WHERE trial_id=?',
                        (
                            r.status,
                            int(r.epochs_run),
                            _opt_int(r.diverged_epoch),
                            _opt_int(r.stopped_epoch),
                            _opt_int(r.best_epoch),
                            int(r.n_params),
                            _opt_float(r.compile_seconds),
                            _median(r.epoch_seconds),
                            to_json([float(s) for s in r.epoch_seconds]),
                            to_json(dict(r.test)),
                            to_json(dict(r.final)),
                            to_json(dict(r.confusion)),
                            now,
                            group_id,
                            r.trial_id,
                        ),
                    )
                conn.executemany(
                    "INSERT INTO artifacts (trial_id, kind, path, sha256, size) VALUES (?, ?, ?, ?, ?)", artifacts
                )
                # 3. Files into place, then commit.
                for tmp, final in staged:
                    os.replace(tmp, final)
                for d in {final.parent for _, final in staged}:
                    _fsync_dir(d)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.Error as exc:
            raise sqlite_error(self.path, exc, "cannot commit group") from None
        except OSError as exc:
            raise os_error(getattr(exc, "filename", None) or self.run_dir / TRIALS_DIR, exc,
                           "cannot write the trial files") from None
        finally:
            for tmp, _ in staged:
                if tmp.exists():
                    try:
                        tmp.unlink()
                    except OSError:
                        pass
        # Files of a previous commit of these trials that are no longer referenced
        # (paths read from the store: only regular files inside the run directory are deleted).
        current = {p for _, _, p, _, _ in artifacts}
        for rel in set(old_files) - current:
            unlink_inside(self.run_dir, rel)

    def _trial_dir(self, trial_id: str) -> Path:
        """``RUN_DIR/trials/<id>``, created; refused if a symbolic link makes it lead outside the run directory."""
        trials = self.run_dir / TRIALS_DIR
        tdir = trials / trial_id
        try:
            for d in (trials, tdir):  # checked before anything is created through it
                d.mkdir(exist_ok=True)
                check_dir_inside(self.run_dir, d)
        except ValueError as exc:
            raise StoreError(f"{exc}; the run directory is damaged") from None
        return tdir

    def reset(self) -> None:
        """Start over (``--fresh``): delete every trial, epoch, artifact and the study.

        The rows go first, in one transaction; then the files this store
        wrote under ``RUN_DIR/trials/`` (only ``params.npz``,
        ``predictions.npz`` and their temporary files; anything else, and
        symbolic links, are left alone). A crash in between leaves only
        unreferenced files that the next run overwrites.
        """
        def statements(conn):
            for table in ("epochs", "artifacts", "trials", "study_trials"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM meta WHERE key LIKE 'study.%'")

        self._write("cannot reset the store", statements)
        trials_dir = self.run_dir / TRIALS_DIR
        if trials_dir.is_symlink() or not trials_dir.is_dir():
            return
        ours = {f"{kind}.npz" for kind in ARTIFACT_KINDS}
        for tdir in trials_dir.iterdir():
            if tdir.is_symlink() or not tdir.is_dir() or not _TRIAL_ID_RE.match(tdir.name):
                continue
            for f in tdir.iterdir():
                if (f.name in ours or is_commit_temp(f.name)) and (f.is_symlink() or f.is_file()):
                    f.unlink()
            try:
                tdir.rmdir()
            except OSError:
                pass  # not empty: something that is not ours
        try:
            trials_dir.rmdir()
        except OSError:
            pass

    # ---- reading

    def trials_frame(self):
        """One row per trial (see :func:`sweeplab.store.frame.trials_frame`)."""
        from .frame import trials_frame

        return trials_frame(self.conn)

    def epochs_frame(self, trial_id: str | None = None):
        """Long form: trial_id, epoch, split, metric, value."""
        from .frame import epochs_frame

        return epochs_frame(self.conn, trial_id)

    def config(self, trial_id: str) -> dict:
        return read_config(self.conn, trial_id, self.path)

    def load_params(self, trial_id: str) -> dict[str, np.ndarray]:
        return read_npz(self.conn, self.run_dir, self.path, trial_id, "params")

    def load_predictions(self, trial_id: str) -> dict[str, np.ndarray]:
        return read_npz(self.conn, self.run_dir, self.path, trial_id, "predictions")


def _median(values: list[float]) -> float | None:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.median(values) if values else None


def _epoch_rows(r: TrialResult) -> list[tuple[str, str, str, int, float | None]]:
    rows = []
    for key, values in r.history.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise StoreError(f"trial {r.trial_id!r}: history key {key!r} is not (split, metric)")
        split, metric = str(key[0]), str(key[1])
        for i, v in enumerate(values):
            rows.append((r.trial_id, split, metric, i + 1, _opt_float(v)))
    return rows
