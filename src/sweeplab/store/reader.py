"""The read-only side of a results store: queries shared by :class:`~sweeplab.store.Run` and resume.

Nothing here writes: :func:`open_readonly` opens ``results.sqlite`` with
``mode=ro`` (or ``immutable=1`` on a read-only mount), and every artifact
path read from the database goes through :func:`sweeplab.store.paths.why_unsafe`
before a file is opened.
"""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import numpy as np

from .errors import StoreEnvironmentError, StoreError, one_line, sqlite_error
from .paths import DB_NAME, open_regular, sha256_fd, why_damaged, why_unsafe
from sweeplab.records import DONE
from .schema import STUDY_KEYS, from_json, has_table, open_error, validate_db


def read_study(conn: sqlite3.Connection) -> dict | None:
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'study.%'").fetchall())
    if "study.name" not in rows:
        return None
    out: dict[str, Any] = {}
    for key in STUDY_KEYS:
        value = rows.get(f"study.{key}")
        out[key] = from_json(value, "meta 'study.spec_json'") if key == "spec_json" else value
    return out


def current_fingerprint(conn: sqlite3.Connection) -> str | None:
    """The fingerprint of the study run last, or None (a store written before fingerprints: every trial is current)."""
    row = conn.execute("SELECT value FROM meta WHERE key='study.fingerprint'").fetchone()
    if row is None or not has_table(conn, "study_trials"):
        return None
    return row[0]


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
        raise StoreError(f"{path}: cannot read {kind} of trial {trial_id!r} ({exc.strerror or one_line(exc)})") from None
    with f:
        if size is not None and os.fstat(f.fileno()).st_size != int(size):
            raise StoreError(f"{path}: checksum does not match the store (size differs: file changed or truncated)")
        try:
            actual = sha256_fd(f)
        except OSError as exc:
            raise StoreError(f"{path}: cannot read {kind} of trial {trial_id!r} ({one_line(exc)})") from None
        if actual != sha:
            raise StoreError(f"{path}: checksum does not match the store (file changed or corrupt)")
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise StoreError(f"{path}: unreadable {kind} file ({one_line(exc)})") from None


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
    for (tid,) in conn.execute(f"SELECT trial_id FROM trials WHERE status IN ({', '.join('?' * len(DONE))}) ORDER BY rowid",
                                DONE):
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
        raise open_error(path, exc) from None
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

    FINISHED, DIVERGED or PRUNED trials, minus (``verify``) those whose artifacts
    are damaged (:func:`verify_artifacts`: they are trained again). An empty
    set when the directory has no store yet; nothing is created.
    """
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        return set()
    conn = open_readonly(run_dir)
    try:
        done = {r[0] for r in conn.execute(
            f"SELECT trial_id FROM trials WHERE status IN ({', '.join('?' * len(DONE))})", DONE)}
        if verify:
            done -= set(verify_artifacts(conn, run_dir, done))
        return done
    except sqlite3.DatabaseError as exc:
        raise sqlite_error(run_dir / DB_NAME, exc, "cannot read the trials") from None
    finally:
        conn.close()


# --------------------------------------------------------------------------- the writer
