"""A tampered or damaged store: a clear one-line message or a repair, and nothing outside the run directory touched.

Each case damages a finished store the way the reliability review did (the
database file, rows, artifact files, artifact paths) and checks what the
readers (:func:`sweeplab.store.load`, ``finished_ids``) and the writer
(:class:`Store`, a re-commit) do. A spy records every path opened, hashed,
written or deleted during the case: none may lie outside the run directory.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sweeplab.store import FINISHED, PENDING, Store, StoreError, finished_ids, load
from sweeplab.store import sqlite as sqlite_mod
from test_store import record, result

TRIALS = ("a", "b", "c", "d")


@pytest.fixture
def finished(tmp_path) -> Path:
    """A run directory with four finished trials (params + predictions each), and a canary next to it."""
    run_dir = tmp_path / "run"
    with Store(run_dir) as store:
        store.set_study("demo", "text", {}, TRIALS)
        store.register([record(t) for t in TRIALS])
        store.commit_group([result(t, seed=i) for i, t in enumerate(TRIALS)])
    (tmp_path / "canary.txt").write_text("outside the run directory")
    return run_dir


def _sql(run_dir: Path, sql: str, args: tuple = ()) -> list:
    conn = sqlite3.connect(run_dir / "results.sqlite")
    try:
        rows = conn.execute(sql, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def spy(monkeypatch):
    """Every path given to open / os.open / unlink / replace / rename / mkdir while the fixture is active."""
    seen: list[str] = []

    def wrap(owner, name, arg=0):
        real = getattr(owner, name)

        def spying(*args, **kwargs):
            target = args[arg] if len(args) > arg else None
            if isinstance(target, (str, bytes, os.PathLike)):
                seen.append(os.path.abspath(os.fsdecode(target)))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spying)

    for owner, name in ((builtins, "open"), (os, "open"), (os, "unlink"), (os, "remove"), (os, "replace"),
                        (os, "rename"), (os, "mkdir"), (os, "rmdir")):
        wrap(owner, name)
    return seen


def _outside(seen: list[str], run_dir: Path) -> list[str]:
    root = os.path.abspath(run_dir)
    return [p for p in seen if p != root and not p.startswith(root + os.sep)]


# --------------------------------------------------------------------------- path containment (D1)

BAD_PATHS = ["../canary.txt", "trials/a/../../../canary.txt", "ABSOLUTE"]


def _bad(path: str, run_dir: Path) -> str:
    return str(run_dir.parent / "canary.txt") if path == "ABSOLUTE" else path


@pytest.mark.parametrize("path", BAD_PATHS)
def test_read_refuses_a_path_outside_before_opening_it(finished, spy, path):
    bad = _bad(path, finished)
    _sql(finished, "UPDATE artifacts SET path=? WHERE trial_id='a' AND kind='params'", (bad,))
    run = load(finished)
    spy.clear()
    with pytest.raises(StoreError) as info:
        run.params("a")
    msg = str(info.value)
    assert "'a'" in msg and bad in msg and "\n" not in msg
    assert _outside(spy, finished) == []  # the canary was never opened, not even to hash it
    np.testing.assert_array_equal(run.params("b")["dense_0/bias"], np.zeros(3))  # the others still load


@pytest.mark.parametrize("path", BAD_PATHS)
def test_recommit_never_deletes_outside(finished, spy, path):
    """The review's D1: a pending trial whose stored artifact path leaves the run directory is retrained."""
    bad = _bad(path, finished)
    _sql(finished, "UPDATE artifacts SET path=? WHERE trial_id='a' AND kind='params'", (bad,))
    _sql(finished, "UPDATE trials SET status=? WHERE trial_id='a'", (PENDING,))
    spy.clear()
    with Store(finished) as store:
        store.commit_group([result("a")])
        load(finished).params("a")
    assert (finished.parent / "canary.txt").read_text() == "outside the run directory"
    assert _outside(spy, finished) == []


def test_symlink_leaving_the_run_directory(finished, spy):
    outside = finished.parent / "elsewhere"
    outside.mkdir()
    (outside / "params.npz").write_bytes((finished / "trials" / "a" / "params.npz").read_bytes())
    os.unlink(finished / "trials" / "a" / "params.npz")
    os.symlink(outside / "params.npz", finished / "trials" / "a" / "params.npz")
    spy.clear()
    with pytest.raises(StoreError, match="symbolic link"):
        load(finished).params("a")
    assert "symbolic link" in load(finished).damaged_trials()["a"]
    assert _outside(spy, finished) == []


def test_trials_dir_linked_outside_is_not_written_through(finished, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.rename(finished / "trials", tmp_path / "moved")
    os.symlink(outside, finished / "trials")
    with Store(finished) as store:
        store.register([record("e")])
        with pytest.raises(StoreError, match="outside the run directory"):
            store.commit_group([result("e")])
    assert list(outside.rglob("*")) == []


# --------------------------------------------------------------------------- damaged artifacts (D8, store side)


def test_damaged_trials_names_each_kind_of_damage(finished, spy):
    tdir = finished / "trials"
    (tdir / "a" / "params.npz").unlink()                                 # missing
    data = bytearray((tdir / "b" / "params.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF                                         # one byte flipped
    (tdir / "b" / "params.npz").write_bytes(bytes(data))
    (tdir / "c" / "predictions.npz").write_bytes(b"short")               # replaced (size differs)
    _sql(finished, "UPDATE artifacts SET path='../canary.txt' WHERE trial_id='d' AND kind='predictions'")
    spy.clear()
    expected = {"a": "params: file missing", "b": "params: checksum", "c": "predictions: checksum",
                "d": "predictions: path '../canary.txt' leaves the run directory"}
    run = load(finished)
    with Store(finished) as store:
        for damaged in (run.damaged_trials(), store.verify_artifacts()):
            assert set(damaged) == set(expected)
            for tid, phrase in expected.items():
                assert damaged[tid].startswith(phrase), damaged[tid]
    assert finished_ids(finished) == set()  # a resume trains all four again
    assert finished_ids(finished, verify=False) == set(TRIALS)
    assert _outside(spy, finished) == []


def test_finished_trial_without_params_row_is_damaged(finished):
    _sql(finished, "DELETE FROM artifacts WHERE trial_id='c'")
    assert load(finished).damaged_trials() == {"c": "params: not in the store"}


def test_reset_trials_makes_them_pending_and_a_recommit_repairs(finished):
    (finished / "trials" / "b" / "params.npz").write_bytes(b"garbage")
    with Store(finished) as store:
        damaged = store.verify_artifacts()
        assert list(damaged) == ["b"]
        store.reset_trials(damaged)
        assert store.finished_ids() == {"a", "c", "d"}
        assert _sql(finished, "SELECT COUNT(*) FROM epochs WHERE trial_id='b'") == [(0,)]
        store.commit_group([result("b", seed=1)])
        assert store.verify_artifacts() == {}
    assert load(finished).trials.set_index("trial_id").loc["b", "status"] == FINISHED


# --------------------------------------------------------------------------- damaged rows and databases (D7)


@pytest.mark.parametrize("column", ["final", "test", "overrides"])
def test_corrupt_json_names_trial_and_column(finished, column):
    _sql(finished, f"UPDATE trials SET {column}='{{not json' WHERE trial_id='c'")
    with pytest.raises(StoreError) as info:
        load(finished).trials
    msg = str(info.value)
    assert "trial 'c'" in msg and f"column '{column}'" in msg and "\n" not in msg


def test_corrupt_config_json_names_trial(finished):
    _sql(finished, "UPDATE trials SET config='[' WHERE trial_id='b'")
    with pytest.raises(StoreError, match="trial 'b', column 'config'"):
        load(finished).config("b")


def _corrupt_a_trials_page(run_dir: Path) -> None:
    """Overwrite one leaf page of the ``trials`` table with garbage (found with SQLite's dbstat)."""
    db = run_dir / "results.sqlite"
    page = _sql(run_dir, "PRAGMA page_size")[0][0]
    leaves = [n for (n,) in _sql(run_dir, "SELECT pageno FROM dbstat WHERE name='trials' AND pagetype='leaf' "
                                          "ORDER BY pageno")]
    assert len(leaves) >= 3
    data = bytearray(db.read_bytes())
    start = (leaves[len(leaves) // 2] - 1) * page
    data[start:start + page] = b"\xa5" * page
    db.write_bytes(bytes(data))


def test_malformed_page_is_a_store_error_everywhere(tmp_path):
    run_dir = tmp_path / "big"
    ids = [f"t{i:03d}" for i in range(120)]
    with Store(run_dir) as store:
        store.register([record(t) for t in ids])
        store.commit_group([result(t, with_files=False) for t in ids])
    _corrupt_a_trials_page(run_dir)
    readers = {
        "finished_ids": lambda: finished_ids(run_dir),
        "trials": lambda: load(run_dir).trials,
        "Store.finished_ids": lambda: Store(run_dir).finished_ids(),
    }
    for name, read in readers.items():
        with pytest.raises(StoreError) as info:
            read()
        assert "malformed" in str(info.value) or "not a sweeplab" in str(info.value), name


@pytest.mark.parametrize("damage", ["truncated", "garbage", "zero", "foreign", "schema_99", "db_is_directory"])
def test_whole_file_damage_is_one_line(finished, damage):
    db = finished / "results.sqlite"
    if damage == "truncated":
        db.write_bytes(db.read_bytes()[:3000])
    elif damage == "garbage":
        db.write_bytes(os.urandom(8192))
    elif damage == "zero":
        db.write_bytes(b"")
    elif damage == "foreign":
        db.unlink()
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE customers (id)")
        conn.close()
    elif damage == "schema_99":
        _sql(finished, "UPDATE meta SET value='99' WHERE key='schema_version'")
    else:
        db.unlink()
        db.mkdir()
    for read in (lambda: finished_ids(finished), lambda: load(finished).trials):
        try:
            read()
        except StoreError as exc:
            assert "\n" not in str(exc) and "results" in str(exc)
        else:
            assert damage == "zero" and False, "an empty file is not a store"
    if damage == "zero":  # the writer re-initialises an empty file (a kill right after creating it)
        with Store(finished) as store:
            assert store.finished_ids() == set()
    else:
        with pytest.raises(StoreError):
            Store(finished)


def test_lock_file_that_is_a_directory(finished):
    lock = finished / ".sweeplab.lock"
    lock.unlink()
    lock.mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        Store(finished)


def test_seed_too_large_for_sqlite(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(StoreError, match="64-bit"):
            store.register([record("a", seed=2**63)])


def test_study_text_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_mod, "MAX_STUDY_TEXT", 1000)
    with Store(tmp_path) as store:
        with pytest.raises(StoreError, match="2,000 characters"):
            store.set_study("big", "x" * 2000, {})
        store.set_study("ok", "x" * 1000, {})  # the store is still usable


# --------------------------------------------------------------------------- stale temporary files (D6)


def test_stale_commit_temp_files_removed_when_the_lock_is_held(finished):
    tdir = finished / "trials" / "a"
    stale = [tdir / ".params.k2j4h1.tmp", tdir / ".predictions.x9.tmp", finished / "trials" / "zz" / ".params.q.tmp"]
    for p in stale:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half-written")
    keep = [tdir / "notes.tmp", tdir / ".params.keep", tdir / "params.npz"]
    keep[0].write_text("user file")
    keep[1].write_text("user file")
    with Store(finished, lock=False):  # no lock: nothing removed (another process may be committing)
        pass
    assert all(p.exists() for p in stale)
    with Store(finished):
        pass
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert load(finished).damaged_trials() == {}
