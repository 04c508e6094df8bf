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
import re
import sqlite3
import statistics
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .records import DIVERGED, FINISHED, PENDING, STATUSES, TrialRecord, TrialResult

SCHEMA_VERSION = 1
DB_NAME = "results.sqlite"
LOCK_NAME = ".sweeplab.lock"
TRIALS_DIR = "trials"
ARTIFACT_KINDS = ("params", "predictions")

_TRIAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

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
    PRIMARY KEY (trial_id, kind)
);
"""

_STUDY_KEYS = ("name", "spec_text", "spec_json", "sweeplab_version", "created")


class StoreError(Exception):
    """A results store problem, with a one-line message naming the file."""


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


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


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
    directory.mkdir(parents=True, exist_ok=True)
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------- reading (shared by Store and Run)


def validate_db(conn: sqlite3.Connection, db_path: Path, *, allow_empty: bool) -> bool:
    """Check that ``conn`` is a sweeplab store. Returns False if it is empty."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db_path}: not a sweeplab results store ({_one_line(exc)})") from None
    if not tables:
        if allow_empty:
            return False
        raise StoreError(f"{db_path}: empty database, not a sweeplab results store")
    missing = {"meta", "trials", "epochs", "artifacts"} - tables
    if missing:
        raise StoreError(
            f"{db_path}: not a sweeplab results store (missing tables: {', '.join(sorted(missing))})"
        )
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{db_path}: not a sweeplab results store (no schema_version in meta)")
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise StoreError(f"{db_path}: bad schema_version {row[0]!r}") from None
    if version != SCHEMA_VERSION:
        newer = "a newer" if version > SCHEMA_VERSION else "an older"
        raise StoreError(
            f"{db_path}: schema_version {version} was written by {newer} sweeplab "
            f"(this one reads {SCHEMA_VERSION})"
        )
    return True


def read_study(conn: sqlite3.Connection) -> dict | None:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'study.%'").fetchall())
    if "study.name" not in rows:
        return None
    out: dict[str, Any] = {}
    for key in _STUDY_KEYS:
        value = rows.get(f"study.{key}")
        out[key] = from_json(value) if key == "spec_json" else value
    return out


def read_config(conn: sqlite3.Connection, trial_id: str, db_path: Path) -> dict:
    row = conn.execute("SELECT config FROM trials WHERE trial_id=?", (trial_id,)).fetchone()
    if row is None:
        raise StoreError(f"{db_path}: no trial {trial_id!r}")
    return from_json(row[0])


def read_npz(conn: sqlite3.Connection, run_dir: Path, db_path: Path, trial_id: str, kind: str) -> dict[str, np.ndarray]:
    row = conn.execute(
        "SELECT path, sha256 FROM artifacts WHERE trial_id=? AND kind=?", (trial_id, kind)
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (trial_id,)).fetchone() is None:
            raise StoreError(f"{db_path}: no trial {trial_id!r}")
        raise StoreError(f"{db_path}: trial {trial_id!r} has no saved {kind}")
    path = run_dir / row[0]
    try:
        actual = _sha256(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {kind} of trial {trial_id!r} ({_one_line(exc)})") from None
    if actual != row[1]:
        raise StoreError(f"{path}: checksum does not match the store (file changed or corrupt)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise StoreError(f"{path}: unreadable {kind} file ({_one_line(exc)})") from None


# --------------------------------------------------------------------------- the writer


class Store:
    """Read-write results store of one run directory (the driver's handle).

    ``Store(run_dir)`` creates the directory and ``results.sqlite`` if needed,
    takes the writer lock and validates the schema. Use as a context manager
    or call :meth:`close`.
    """

    def __init__(self, run_dir: str | os.PathLike, *, lock: bool = True):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.run_dir}: cannot create run directory ({_one_line(exc)})") from None
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise StoreError(f"{self.run_dir}: not a directory")
        if lock:
            self._acquire_lock()
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # ---- lifecycle

    def _acquire_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        path = self.run_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"{self.run_dir}: another sweeplab process is writing this run directory"
            ) from None
        self._lock_fd = fd

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open ({_one_line(exc)})") from None
        self._conn = conn
        # Validate before any pragma that would write to a foreign file.
        initialised = validate_db(conn, self.path, allow_empty=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if not initialised:
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot initialise ({_one_line(exc)})") from None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                # Best effort: leave a single self-contained file behind
                # (fails harmlessly while a reader is connected).
                conn.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.Error:
                pass
            conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

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

    def _begin(self) -> sqlite3.Connection:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        return conn

    # ---- study

    def set_study(self, name: str, spec_text: str, spec_json: dict) -> None:
        """Record the study (name, file text, resolved spec, sweeplab version).

        Calling it again (resume) updates the values and keeps the first
        ``created`` time.
        """
        from sweeplab import __version__

        values = {
            "name": str(name),
            "spec_text": str(spec_text),
            "spec_json": to_json(spec_json),
            "sweeplab_version": __version__,
        }
        conn = self._begin()
        try:
            for key, value in values.items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"study.{key}", value))
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('study.created', ?)", (_now(),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def study(self) -> dict | None:
        """``{name, spec_text, spec_json, sweeplab_version, created}`` or None."""
        return read_study(self.conn)

    # ---- trials

    def register(self, records: Iterable[TrialRecord]) -> None:
        """Insert planned trials as ``pending``; trials already present are left as they are."""
        now = _now()
        rows = []
        for r in records:
            check_trial_id(r.trial_id)
            rows.append(
                (
                    r.trial_id,
                    str(r.config_id),
                    to_json(r.config),
                    to_json(r.overrides),
                    int(r.seed),
                    int(r.repeat),
                    _opt_int(r.fold),
                    str(r.group),
                    PENDING,
                    now,
                )
            )
        if not rows:
            return
        conn = self._begin()
        try:
            conn.executemany(
                'INSERT OR IGNORE INTO trials (trial_id, config_id, config, overrides, seed, repeat, fold, "group", status, created) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def finished_ids(self) -> set[str]:
        """Trials that are FINISHED or DIVERGED (skipped on resume)."""
        rows = self.conn.execute(
            "SELECT trial_id FROM trials WHERE status IN (?, ?)", (FINISHED, DIVERGED)
        ).fetchall()
        return {r[0] for r in rows}

    def status_counts(self) -> dict[str, int]:
        """Number of trials per status (all statuses present, zeros included)."""
        counts = {s: 0 for s in STATUSES}
        for status, n in self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            counts[status] = n
        return counts

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
        artifacts: list[tuple[str, str, str, str]] = []
        try:
            # 1. Arrays to temporary files (outside the write lock).
            for r in results:
                tdir = self.run_dir / TRIALS_DIR / r.trial_id
                for kind in ARTIFACT_KINDS:
                    arrays = getattr(r, kind)
                    if arrays is None:
                        continue
                    tmp, sha = write_npz_tmp(tdir, kind, arrays)
                    final = tdir / f"{kind}.npz"
                    staged.append((tmp, final))
                    artifacts.append((r.trial_id, kind, final.relative_to(self.run_dir).as_posix(), sha))
            # 2. One transaction for every row of the group. The trials trained
            # together share a group id (their time per epoch is the group's).
            group_id = hashlib.sha256(" ".join(sorted(seen)).encode()).hexdigest()[:12]
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = _now()
                old_files: list[Path] = []
                for r in results:
                    if conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (r.trial_id,)).fetchone() is None:
                        raise StoreError(f"{self.path}: trial {r.trial_id!r} was not registered")
                    old_files += [
                        self.run_dir / p
                        for (p,) in conn.execute("SELECT path FROM artifacts WHERE trial_id=?", (r.trial_id,))
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
                    "INSERT INTO artifacts (trial_id, kind, path, sha256) VALUES (?, ?, ?, ?)", artifacts
                )
                # 3. Files into place, then commit.
                for tmp, final in staged:
                    os.replace(tmp, final)
                for d in {final.parent for _, final in staged}:
                    _fsync_dir(d)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot commit group ({_one_line(exc)})") from None
        finally:
            for tmp, _ in staged:
                if tmp.exists():
                    try:
                        tmp.unlink()
                    except OSError:
                        pass
        # Files of a previous commit of these trials that are no longer referenced.
        current = {self.run_dir / p for _, _, p, _ in artifacts}
        for path in set(old_files) - current:
            try:
                path.unlink()
            except OSError:
                pass

    def reset(self) -> None:
        """Start over (``--fresh``): delete every trial, epoch, artifact and the study.

        The rows go first, in one transaction; then the files this store
        wrote under ``RUN_DIR/trials/`` (only ``params.npz``,
        ``predictions.npz`` and their temporary files; anything else, and
        symbolic links, are left alone). A crash in between leaves only
        unreferenced files that the next run overwrites.
        """
        conn = self._begin()
        try:
            conn.execute("DELETE FROM epochs")
            conn.execute("DELETE FROM artifacts")
            conn.execute("DELETE FROM trials")
            conn.execute("DELETE FROM meta WHERE key LIKE 'study.%'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        trials_dir = self.run_dir / TRIALS_DIR
        if trials_dir.is_symlink() or not trials_dir.is_dir():
            return
        ours = {f"{kind}.npz" for kind in ARTIFACT_KINDS}
        for tdir in trials_dir.iterdir():
            if tdir.is_symlink() or not tdir.is_dir() or not _TRIAL_ID_RE.match(tdir.name):
                continue
            for f in tdir.iterdir():
                is_tmp = f.name.startswith(tuple(f".{k}." for k in ARTIFACT_KINDS)) and f.name.endswith(".tmp")
                if (f.name in ours or is_tmp) and (f.is_symlink() or f.is_file()):
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
