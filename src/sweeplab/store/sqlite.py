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
import math
import os
import sqlite3
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sweeplab._version import version

from .errors import StoreError, os_error, sqlite_error
from .lock import RunLock
from .npz import fsync_dir, write_npz_tmp
from .paths import (
    ARTIFACT_KINDS,
    DB_NAME,
    LOCK_NAME,
    TRIAL_ID_RE as _TRIAL_ID_RE,
    TRIALS_DIR,
    check_dir_inside,
    is_commit_temp,
    remove_stale_temps,
    unlink_inside,
)
from .reader import finished_ids, verify_artifacts
from .schema import open_error
from sweeplab.records import DONE, PENDING, TrialRecord, TrialResult
from .schema import SCHEMA_VERSION, initialise, rollback, to_json, transaction, validate_db

#: Study file texts above this size are refused (a study is a page of TOML, not a data set).
MAX_STUDY_TEXT = 16 * 1024 * 1024

__all__ = ["SCHEMA_VERSION", "DB_NAME", "MAX_STUDY_TEXT", "Store", "study_fingerprint", "finished_ids", "LOCK_NAME"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")



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


# --------------------------------------------------------------------------- the writer


class Store:
    """The writer of one run directory's results (the driver's handle).

    It writes (:meth:`register`, :meth:`set_study`, :meth:`commit_group`,
    :meth:`reset_trials`, :meth:`reset`) and answers only what a resume
    needs (:meth:`finished_ids`, :meth:`verify_artifacts`); everything else is
    read through :func:`sweeplab.store.load` (:class:`sweeplab.store.Run`).

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
            raise open_error(self.path, exc) from None
        self._conn = conn
        # Validate before any pragma that would write to a foreign file.
        version = validate_db(conn, self.path, allow_empty=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise sqlite_error(self.path, exc, "cannot initialise") from None
        initialise(conn, self.path, version)  # a new file: the schema; an older one: migrated, data kept

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                rollback(conn)
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
        """Run ``statements(conn)`` in one transaction; SQLite errors become one line."""
        with transaction(self.conn, self.path, what) as conn:
            statements(conn)

    # ---- study

    def set_study(self, name: str, spec_text: str, spec_json: dict, trial_ids: Iterable[str] | None = None) -> None:
        """Record the study (name, file text, resolved spec, sweeplab version) as the current one.

        With ``trial_ids`` (the study's trials), the study's fingerprint
        (:func:`study_fingerprint`) and its trial set are stored too: readers
        then show only these trials by default (``load(run_dir, all=True)``
        shows every trial ever stored). Calling it again (resume) updates the
        values and keeps the first ``created`` time.
        """
        if len(spec_text) > MAX_STUDY_TEXT:
            raise StoreError(
                f"{self.path}: the study text is {len(spec_text):,} characters; "
                f"the store keeps study files up to {MAX_STUDY_TEXT:,}"
            )
        values = {
            "name": str(name),
            "spec_text": str(spec_text),
            "spec_json": to_json(spec_json),
            "sweeplab_version": version(),
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
        """Trials that are FINISHED, DIVERGED or PRUNED (skipped on resume)."""
        try:
            rows = self.conn.execute(
                f"SELECT trial_id FROM trials WHERE status IN ({', '.join('?' * len(DONE))})", DONE
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise sqlite_error(self.path, exc, "cannot read the trials") from None
        return {r[0] for r in rows}

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
        """Persist a trained group in ONE transaction (all of it or none of it).

        The arrays go to fsynced temporary files first (:meth:`_stage_files`,
        outside the write lock); then one transaction writes every row
        (:meth:`_write_rows`), renames the files into place (:func:`_publish`)
        and commits. Files of an earlier commit of these trials that nothing
        references any more are deleted afterwards.
        """
        results = list(results)
        if not results:
            return
        _check_group(results, self.path)
        staged: list[tuple[Path, Path]] = []  # (temporary, final), filled as files are written
        try:
            artifacts = self._stage_files(results, staged)
            with transaction(self.conn, self.path, "cannot commit group") as conn:
                old_files = self._write_rows(conn, results, artifacts)
                _publish(staged)
        except OSError as exc:
            raise os_error(getattr(exc, "filename", None) or self.run_dir / TRIALS_DIR, exc,
                           "cannot write the trial files") from None
        finally:
            _discard(staged)
        # Only regular files inside the run directory are deleted (paths read from the store).
        for rel in set(old_files) - {path for _, _, path, _, _ in artifacts}:
            unlink_inside(self.run_dir, rel)

    def _stage_files(self, results: list[TrialResult], staged: list[tuple[Path, Path]]) -> list[tuple]:
        """Write each trial's arrays to temporary files; the ``artifacts`` rows they will have."""
        artifacts = []
        for r in results:
            tdir = self._trial_dir(r.trial_id)
            for kind in ARTIFACT_KINDS:
                arrays = getattr(r, kind)
                if arrays is None:
                    continue
                tmp, sha = write_npz_tmp(tdir, kind, arrays)
                staged.append((tmp, tdir / f"{kind}.npz"))
                artifacts.append((r.trial_id, kind, f"{TRIALS_DIR}/{r.trial_id}/{kind}.npz", sha, tmp.stat().st_size))
        return artifacts

    def _write_rows(self, conn: sqlite3.Connection, results: list[TrialResult], artifacts: list[tuple]) -> list[str]:
        """Epochs, trial rows and artifact rows of the group (inside the transaction); the replaced file paths.

        The trials trained together share a group id: their time per epoch is the group's.
        """
        group_id = hashlib.sha256(" ".join(sorted(r.trial_id for r in results)).encode()).hexdigest()[:12]
        now = _now()
        old_files: list[str] = []
        for r in results:
            if conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (r.trial_id,)).fetchone() is None:
                raise StoreError(f"{self.path}: trial {r.trial_id!r} was not registered")
            old_files += [p for (p,) in conn.execute("SELECT path FROM artifacts WHERE trial_id=?", (r.trial_id,))]
            conn.execute("DELETE FROM epochs WHERE trial_id=?", (r.trial_id,))
            conn.execute("DELETE FROM artifacts WHERE trial_id=?", (r.trial_id,))
            conn.executemany("INSERT INTO epochs (trial_id, split, metric, epoch, value) VALUES (?, ?, ?, ?, ?)",
                             _epoch_rows(r))
            conn.execute(
                "UPDATE trials SET status=?, epochs_run=?, diverged_epoch=?, stopped_epoch=?, best_epoch=?, "
                "n_params=?, compile_seconds=?, seconds_per_epoch=?, epoch_seconds=?, test=?, final=?, "
                'confusion=?, finished=?, "group"=? WHERE trial_id=?',
                (r.status, int(r.epochs_run), _opt_int(r.diverged_epoch), _opt_int(r.stopped_epoch),
                 _opt_int(r.best_epoch), int(r.n_params), _opt_float(r.compile_seconds), _median(r.epoch_seconds),
                 to_json([float(s) for s in r.epoch_seconds]), to_json(dict(r.test)), to_json(dict(r.final)),
                 to_json(dict(r.confusion)), now, group_id, r.trial_id),
            )
        conn.executemany("INSERT INTO artifacts (trial_id, kind, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                         artifacts)
        return old_files

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


def _check_group(results: list[TrialResult], db_path: Path) -> None:
    """Refuse a group with a bad or repeated trial id, or a status that is not a final one."""
    seen: set[str] = set()
    for r in results:
        check_trial_id(r.trial_id)
        if r.trial_id in seen:
            raise StoreError(f"{db_path}: trial {r.trial_id!r} appears twice in one group")
        seen.add(r.trial_id)
        if r.status not in DONE:
            raise StoreError(
                f"trial {r.trial_id!r}: status {r.status!r} cannot be committed (expected one of {', '.join(DONE)})"
            )


def _publish(staged: list[tuple[Path, Path]]) -> None:
    """Rename the staged files into place and fsync their folders (inside the group's transaction)."""
    for tmp, final in staged:
        os.replace(tmp, final)
    for d in {final.parent for _, final in staged}:
        fsync_dir(d)


def _discard(staged: list[tuple[Path, Path]]) -> None:
    """Delete temporary files that were not renamed into place (a failed commit)."""
    for tmp, _ in staged:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
