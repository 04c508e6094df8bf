"""Results store: SQLite rows, npz files, atomic groups, pandas frames and summaries."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sweeplab.store as store_mod
from sweeplab.store import DIVERGED, FINISHED, PENDING, Store, StoreError, TrialRecord, TrialResult, load
from sweeplab.errors import UserError
from sweeplab.store import sqlite as sqlite_mod


def record(tid: str, *, batch=32, hidden=(16,), seed=0, repeat=0, fold=None, group="g0") -> TrialRecord:
    overrides = {"train.batch_size": batch, "model.mlp.hidden": list(hidden)}
    config_id = f"c-{batch}-{'x'.join(map(str, hidden))}"
    config = {
        "data": {"dataset": "digits", "validation_split": 0.2},
        "model": {"mlp": {"hidden": list(hidden), "activation": "relu"}},
        "train": {"batch_size": batch, "optimizer": "adam", "learning_rate": 1e-3, "epochs": 3},
    }
    return TrialRecord(tid, config, overrides, config_id, seed, repeat, fold, group)


def result(tid: str, *, status=FINISHED, acc=0.9, loss=0.3, epochs=3, with_files=True, seed=0) -> TrialResult:
    rng = np.random.default_rng(seed)
    history = {
        ("train", "loss"): [1.0 / (e + 1) for e in range(epochs)],
        ("train", "accuracy"): [0.5 + 0.1 * e for e in range(epochs)],
        ("val", "loss"): [1.1 / (e + 1) for e in range(epochs)],
        ("grad", "dense_0/kernel"): [0.01 * (e + 1) for e in range(epochs)],
    }
    if status == DIVERGED:
        history[("train", "loss")][-1] = float("nan")
    return TrialResult(
        trial_id=tid,
        status=status,
        epochs_run=epochs,
        history=history,
        test={"accuracy": acc, "loss": loss},
        final={"train_loss": history[("train", "loss")][-1], "val_loss": history[("val", "loss")][-1]},
        confusion={"output": [[5, 1], [2, 7]]},
        epoch_seconds=[2.0, 0.1, 0.3, 0.2],
        compile_seconds=1.8,
        n_params=1234,
        diverged_epoch=epochs if status == DIVERGED else None,
        stopped_epoch=2 if status == FINISHED else None,
        best_epoch=1 if status == FINISHED else None,
        params={"dense_0/kernel": rng.normal(size=(4, 3)).astype(np.float32), "dense_0/bias": np.zeros(3, np.float32)}
        if with_files
        else None,
        predictions={"y_true/output": np.array([0, 1, 1]), "proba/output": rng.random((3, 2))} if with_files else None,
    )


def rows(run_dir: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.rglob("*"))}


# --------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path):
    run_dir = tmp_path / "run"
    recs = [record("t1", batch=32, hidden=(16, 8)), record("t2", batch="full", seed=1, repeat=1, fold=2)]
    r1, r2 = result("t1", seed=1), result("t2", status=DIVERGED, with_files=False)
    spec = {"study": {"name": "demo", "repeats": 2}, "sweep": {"train.batch_size": [32, "full"]}}
    with Store(run_dir) as store:
        assert load(run_dir).study is None
        store.set_study("demo", "[study]\nname = 'demo'\n", spec)
        store.register(recs)
        store.commit_group([r1, r2])
        study = load(run_dir).study
        assert study["name"] == "demo" and study["spec_json"] == spec
        assert study["spec_text"] == "[study]\nname = 'demo'\n"
        assert study["sweeplab_version"] and study["created"]
        reader = load(run_dir)  # the one reader, also while the writer is open
        assert reader.config("t1") == recs[0].config
        params = reader.params("t1")
        assert set(params) == {"dense_0/kernel", "dense_0/bias"}
        np.testing.assert_array_equal(params["dense_0/kernel"], r1.params["dense_0/kernel"])
        assert params["dense_0/kernel"].dtype == np.float32
        preds = reader.predictions("t1")
        np.testing.assert_array_equal(preds["proba/output"], r1.predictions["proba/output"])
        with pytest.raises(StoreError, match="no saved params"):
            reader.params("t2")
        reader.close()

    run = load(run_dir)
    assert run.study["spec_json"] == spec
    t = run.trials.set_index("trial_id")
    assert list(run.axes) == ["train.batch_size", "model.mlp.hidden"]
    assert t.loc["t1", "status"] == FINISHED and t.loc["t2", "status"] == DIVERGED
    assert t.loc["t1", "train.batch_size"] == 32 and t.loc["t2", "train.batch_size"] == "full"
    assert t.loc["t1", "model.mlp.hidden"] == (16, 8)  # lists become tuples: groupable
    assert t.loc["t2", "fold"] == 2 and t.loc["t2", "seed"] == 1 and t.loc["t2", "repeat"] == 1
    assert t.loc["t1", "epochs_run"] == 3 and t.loc["t1", "n_params"] == 1234
    assert t.loc["t1", "stopped_epoch"] == 2 and t.loc["t1", "best_epoch"] == 1
    assert t.loc["t2", "diverged_epoch"] == 3
    assert t.loc["t1", "seconds_per_epoch"] == pytest.approx(0.25)  # median of the epoch times
    assert t.loc["t1", "compile_seconds"] == pytest.approx(1.8)
    assert t.loc["t1", "test_accuracy"] == pytest.approx(0.9) and t.loc["t1", "test_loss"] == pytest.approx(0.3)
    assert t.loc["t1", "val_loss"] == pytest.approx(1.1 / 3)
    assert math.isnan(t.loc["t2", "train_loss"])
    assert run.trials.groupby("model.mlp.hidden").size().to_dict() == {(16, 8): 1, (16,): 1}

    e = run.epochs
    assert list(e.columns) == ["trial_id", "epoch", "split", "metric", "value"]
    assert len(e) == 2 * 4 * 3
    t1_loss = e[(e.trial_id == "t1") & (e.split == "train") & (e.metric == "loss")].sort_values("epoch")
    assert t1_loss["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(t1_loss["value"], [1.0, 0.5, 1 / 3])
    t2_last = e[(e.trial_id == "t2") & (e.split == "train") & (e.metric == "loss") & (e.epoch == 3)]
    assert math.isnan(t2_last["value"].item())

    h = run.history("t1")
    assert list(h.index) == [1, 2, 3] and h.index.name == "epoch"
    assert list(h.columns) == ["train_loss", "train_accuracy", "val_loss", "grad_dense_0/kernel"]
    np.testing.assert_allclose(h["train_accuracy"], [0.5, 0.6, 0.7])
    np.testing.assert_array_equal(run.params("t1")["dense_0/bias"], np.zeros(3, np.float32))
    assert run.config("t2")["train"]["batch_size"] == "full"
    with pytest.raises(StoreError, match="no trial 'nope'"):
        run.history("nope")
    (conf,) = rows(run_dir, "SELECT confusion FROM trials WHERE trial_id='t1'")
    assert conf[0] == '{"output":[[5,1],[2,7]]}'
    run.close()


def test_register_is_idempotent(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a"), record("b")])
        store.register([record("a"), record("b"), record("c", batch=64)])
        store.commit_group([result("a")])
        store.register([record("a")])  # does not reset a finished trial
        assert load(tmp_path).trials["status"].value_counts().to_dict() == {PENDING: 2, FINISHED: 1}
    assert rows(tmp_path, "SELECT trial_id, status FROM trials ORDER BY trial_id") == [
        ("a", FINISHED),
        ("b", PENDING),
        ("c", PENDING),
    ]


def test_finished_ids_after_commit(tmp_path):
    with Store(tmp_path) as store:
        store.register([record(x) for x in "abc"])
        assert store.finished_ids() == set()
        store.commit_group([result("a"), result("b", status=DIVERGED)])
        assert store.finished_ids() == {"a", "b"}
    with Store(tmp_path) as store:  # survives reopening (resume)
        assert store.finished_ids() == {"a", "b"}


def test_commit_rejects_unregistered_and_bad_status(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a")])
        with pytest.raises(StoreError, match="'zz' was not registered"):
            store.commit_group([result("a"), result("zz")])
        with pytest.raises(StoreError, match="status 'pending'"):
            store.commit_group([result("a", status=PENDING)])
        assert store.finished_ids() == set()
        assert rows(tmp_path, "SELECT COUNT(*) FROM epochs") == [(0,)]


# --------------------------------------------------------------------------- atomicity


def _fail_on_second_replace(monkeypatch):
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk on fire")
        return real(src, dst)

    monkeypatch.setattr(sqlite_mod.os, "replace", flaky)


def _fail_on_second_trial_rows(monkeypatch):
    real = sqlite_mod._epoch_rows
    calls = []

    def flaky(r):
        calls.append(r.trial_id)
        if len(calls) == 2:
            raise RuntimeError("boom inside the transaction")
        return real(r)

    monkeypatch.setattr(sqlite_mod, "_epoch_rows", flaky)


@pytest.mark.parametrize("inject", [_fail_on_second_replace, _fail_on_second_trial_rows])
def test_failed_commit_leaves_nothing(tmp_path, monkeypatch, inject):
    with Store(tmp_path) as store:
        store.register([record("a"), record("b")])
        inject(monkeypatch)
        with pytest.raises((StoreError, RuntimeError)):  # an OSError becomes a one-line StoreError
            store.commit_group([result("a"), result("b")])
        assert store.finished_ids() == set()
        assert rows(tmp_path, "SELECT COUNT(*) FROM epochs") == [(0,)]
        assert rows(tmp_path, "SELECT COUNT(*) FROM artifacts") == [(0,)]
        assert rows(tmp_path, "SELECT status, epochs_run, test FROM trials") == [(PENDING, None, None)] * 2
        assert not list(tmp_path.rglob("*.tmp"))  # temporary files cleaned up
        monkeypatch.undo()
        store.commit_group([result("a"), result("b")])  # the rerun succeeds
        assert store.finished_ids() == {"a", "b"}
        assert rows(tmp_path, "SELECT COUNT(*) FROM epochs") == [(24,)]
        np.testing.assert_array_equal(load(tmp_path).params("b")["dense_0/bias"], np.zeros(3))


def test_hard_kill_inside_commit_leaves_nothing(tmp_path):
    """The process dies (no rollback, no cleanup) after a file is in place, before COMMIT."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import record, result
        from sweeplab.store import Store
        from sweeplab.store import sqlite as m
        store = Store({str(tmp_path)!r})
        store.register([record("a"), record("b"), record("c")])
        store.commit_group([result("a")])
        real = os.replace
        def die(src, dst):
            real(src, dst)
            os._exit(3)
        m.os.replace = die
        store.commit_group([result("b"), result("c")])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    with Store(tmp_path) as store:
        assert store.finished_ids() == {"a"}
        assert rows(tmp_path, "SELECT DISTINCT trial_id FROM epochs") == [("a",)]
        assert rows(tmp_path, "SELECT DISTINCT trial_id FROM artifacts") == [("a",)]
        assert rows(tmp_path, "PRAGMA integrity_check") == [("ok",)]
        store.commit_group([result("b"), result("c")])  # stray file of b is overwritten
        assert store.finished_ids() == {"a", "b", "c"}
        load(tmp_path).params("b")


def test_reset(tmp_path):
    with Store(tmp_path) as store:
        store.set_study("demo", "text", {})
        store.register([record("a"), record("b")])
        store.commit_group([result("a"), result("b")])
        keep = tmp_path / "trials" / "a" / "notes.txt"
        keep.write_text("user file")
        store.reset()
        assert load(tmp_path).study is None
        assert store.finished_ids() == set()
        for table in ("trials", "epochs", "artifacts"):
            assert rows(tmp_path, f"SELECT COUNT(*) FROM {table}") == [(0,)]
        assert not (tmp_path / "trials" / "b").exists()
        assert not (tmp_path / "trials" / "a" / "params.npz").exists()
        assert keep.read_text() == "user file"  # only our files are removed
        assert rows(tmp_path, "SELECT value FROM meta WHERE key='schema_version'") == [(str(store_mod.SCHEMA_VERSION),)]
        store.register([record("a")])
        store.commit_group([result("a")])
        assert store.finished_ids() == {"a"}


# --------------------------------------------------------------------------- summary


ACC = {"A": [0.91, 0.95, 0.90], "B": [0.80, 0.84, 0.83]}
LOSS = {"A": [0.40, 0.31, 0.35], "B": [0.20, 0.26, 0.22]}


@pytest.fixture
def two_by_three(tmp_path):
    run_dir = tmp_path / "run"
    with Store(run_dir) as store:
        recs, res = [], []
        for cfg, batch in (("A", 32), ("B", 64)):
            for s in range(3):
                tid = f"{cfg}{s}"
                recs.append(record(tid, batch=batch, seed=s, repeat=s))
                res.append(result(tid, acc=ACC[cfg][s], loss=LOSS[cfg][s], with_files=False))
        store.register(recs)
        store.commit_group(res)
    return run_dir


def _summary(run_dir, *args, **kw):
    """The one summary over seeds (:func:`sweeplab.analysis.tables.summarize`) of a stored run."""
    from sweeplab.analysis.tables import summarize

    run = load(run_dir)
    return summarize(run.trials, run.axes, *args, **kw)


def test_summary_mean_std_against_numpy(two_by_three):
    s = _summary(two_by_three).set_index("train.batch_size")
    assert {"config_id", "model.mlp.hidden", "n", "diverged", "time_per_epoch"} <= set(s.columns)
    for cfg, batch in (("A", 32), ("B", 64)):
        assert s.loc[batch, "n"] == 3 and s.loc[batch, "diverged"] == 0
        assert s.loc[batch, "test_accuracy"] == pytest.approx(np.mean(ACC[cfg]))
        assert s.loc[batch, "test_accuracy_std"] == pytest.approx(np.std(ACC[cfg], ddof=1))
        assert s.loc[batch, "test_accuracy_n"] == 3
        assert s.loc[batch, "test_loss"] == pytest.approx(np.mean(LOSS[cfg]))
        assert s.loc[batch, "test_loss_std"] == pytest.approx(np.std(LOSS[cfg], ddof=1))
        # the group's median epoch time (0.25 s) shared by the 6 trials committed together
        assert s.loc[batch, "time_per_epoch"] == pytest.approx(0.25 / 6)


def test_summary_sort_order(two_by_three):
    # default: the ranking metric (accuracy; no validation accuracy here, so test), best first
    assert _summary(two_by_three)["train.batch_size"].tolist() == [32, 64]
    # lower is better for a loss (the direction declared in the metric registry)
    assert _summary(two_by_three, ["loss"])["train.batch_size"].tolist() == [64, 32]
    assert _summary(two_by_three, sort_by="test_loss")["train.batch_size"].tolist() == [64, 32]
    assert _summary(two_by_three, sort_by="test_loss", ascending=False)["train.batch_size"].tolist() == [32, 64]
    assert _summary(two_by_three, "accuracy", ascending=True)["train.batch_size"].tolist() == [64, 32]
    # val metrics when asked
    assert "val_loss" in _summary(two_by_three, ["val_loss"]).columns
    with pytest.raises(UserError, match="unknown metric 'nope'; recorded: test_accuracy, test_loss"):
        _summary(two_by_three, ["nope"])


def test_summary_defaults_and_diverged(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a0"), record("a1", seed=1), record("b0", batch=64), record("c0", batch=128)])
        ra = result("a0", acc=0.5, with_files=False)
        ra.test = {}
        rb = result("b0", with_files=False)
        rb.test = {}
        rd = result("a1", status=DIVERGED, with_files=False)
        rd.test = {}
        store.commit_group([ra, rd, rb])
    s = _summary(tmp_path)
    # no test metrics -> the final train and val metrics; the diverged trial is counted in n and in diverged
    assert s.attrs["metrics"] == ["train_loss", "val_loss", "time_per_epoch", "n_params"]
    row = s.set_index("train.batch_size").loc[32]
    assert row["n"] == 2 and row["diverged"] == 1
    assert row["val_loss"] == pytest.approx(1.1 / 3)
    # a configuration with no finished trial yet comes last, with n = 0
    assert s["train.batch_size"].tolist()[-1] == 128 and s["n"].tolist()[-1] == 0
    assert s["val_loss_n"].tolist() == [2, 1, 0]  # counts of values, integers also for the pending row


# --------------------------------------------------------------------------- read-only, files, errors


def test_load_is_read_only(two_by_three, tmp_path):
    before = tree(two_by_three)
    run = load(two_by_three)
    run.trials, run.epochs, run.history("A0"), run.study, run.params, run.damaged_trials()
    run.close()
    assert tree(two_by_three) == before  # no -wal/-shm, nothing touched
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreError, match="no results store"):
        load(missing)
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match="results.sqlite not found"):
        load(empty)
    assert list(empty.iterdir()) == []


def test_params_never_pickled(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a"), record("b")])
        store.commit_group([result("a")])
        bad = result("b")
        bad.params = {"w": np.array([{"x": 1}], dtype=object)}
        with pytest.raises(StoreError, match="dtype object"):
            store.commit_group([bad])
        assert store.finished_ids() == {"a"}
    for name in ("params.npz", "predictions.npz"):
        with np.load(tmp_path / "trials" / "a" / name, allow_pickle=False) as npz:
            assert npz.files
            for key in npz.files:
                assert npz[key].dtype != object
    (path, sha), = rows(tmp_path, "SELECT path, sha256 FROM artifacts WHERE trial_id='a' AND kind='params'")
    assert path == "trials/a/params.npz" and len(sha) == 64


def test_tampered_params_detected(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a")])
        store.commit_group([result("a")])
    with open(tmp_path / "trials" / "a" / "params.npz", "ab") as f:
        f.write(b"junk")
    with pytest.raises(StoreError, match="checksum"):
        load(tmp_path).params("a")


def test_corrupt_and_foreign_databases(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "results.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    for opener in (Store, load):
        with pytest.raises(StoreError) as info:
            opener(junk)
        msg = str(info.value)
        assert "results.sqlite" in msg and "\n" not in msg

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    conn = sqlite3.connect(foreign / "results.sqlite")
    conn.execute("CREATE TABLE customers (id)")
    conn.commit()
    conn.close()
    original = (foreign / "results.sqlite").read_bytes()
    for opener in (Store, load):
        with pytest.raises(StoreError, match="not a sweeplab results store"):
            opener(foreign)
    assert (foreign / "results.sqlite").read_bytes() == original  # untouched


def test_newer_schema_refused(tmp_path):
    with Store(tmp_path) as store:
        store.conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema_version 99"):
        load(tmp_path)


def test_single_writer(tmp_path):
    with Store(tmp_path):
        with pytest.raises(StoreError, match="another sweeplab process"):
            Store(tmp_path)
    with Store(tmp_path):  # released on close
        pass


def test_invalid_trial_id(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(StoreError, match="invalid trial_id"):
            store.register([record("../escape")])


def test_wal_and_schema(tmp_path):
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        (idx,) = store.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND tbl_name='epochs'").fetchone()
        assert idx >= 1
    assert store_mod.SCHEMA_VERSION == 3  # 2: artifacts.size and study_trials (fingerprints); 3: pruned
