"""Whether a run's report is up to date, without loading the run.

A fingerprint is a short hash of what a report is built from: the store's
state (trials per status with their latest finish time, the number of epoch
rows, the artifacts' checksums, the study text and settings), the report
options and the sweeplab version. :func:`write_report` keeps it in
``.report-fingerprint`` next to ``report.html`` and skips the rebuild when
nothing changed (a rerun with nothing to train), unless ``force=True``.

Only SQLite and hashlib are imported here, so the check costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

FINGERPRINT_NAME = ".report-fingerprint"
FORMAT = 1  # bump when the report's content changes for the same results

_QUERIES = (
    "SELECT status, count(*), max(finished), max(rowid) FROM trials GROUP BY status ORDER BY status",
    "SELECT count(*) FROM epochs",
    "SELECT trial_id, kind, sha256 FROM artifacts ORDER BY trial_id, kind",
    "SELECT key, value FROM meta ORDER BY key",
)


def store_state(run_dir: Path) -> str | None:
    """A hash of the results store's content that a report depends on; None when unreadable."""
    db = Path(run_dir) / "results.sqlite"
    if not db.is_file():
        return None
    h = hashlib.sha256()
    try:
        conn = sqlite3.connect("file:" + quote(str(db.resolve())) + "?mode=ro", uri=True, timeout=5.0)
        try:
            for q in _QUERIES:
                for row in conn.execute(q):
                    h.update(json.dumps(row, default=str).encode())
                h.update(b"\0")
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return h.hexdigest()


def fingerprint(run_dir: Path, options: dict) -> str | None:
    """The fingerprint of a report built from ``run_dir`` with ``options``; None: always rebuild."""
    state = store_state(run_dir)
    if state is None:
        return None
    from sweeplab._version import __version__

    blob = json.dumps({"format": FORMAT, "store": state, "options": options, "version": __version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def up_to_date(run_dir: Path, fp: str | None) -> bool:
    """Whether the report files in ``run_dir`` were built from the state ``fp`` describes."""
    if fp is None or not all((run_dir / n).is_file() for n in ("report.html", "report.md")):
        return False
    try:
        return (run_dir / FINGERPRINT_NAME).read_text(encoding="ascii").strip() == fp
    except (OSError, UnicodeDecodeError):
        return False
