"""The run directory across runs: edited studies (fingerprints), --fresh, repairs, failed runs, the writer lock.

Trains a tiny digits study in-process (one epoch, two or three trials in one compiled group).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sweeplab
import sweeplab.cli
from sweeplab.engine import run as run_mod
from sweeplab.engine.run import run_study
from sweeplab.spec.expand import study_from_text
from sweeplab.store import SCHEMA_VERSION, Store, StoreError, load, study_fingerprint
from test_store import record, result

BASE = """
[study]
name = "fp"
description = "{description}"
seed = 0
repeats = 1

[data]
dataset = "digits"
validation_split = 0.2
test_size = 0.2

[model]
mlp = {{ hidden = [8], activation = "relu" }}

[train]
optimizer = "adam"
batch_size = 64
epochs = {epochs}

[sweep]
"train.learning_rate" = {rates}   # per-trial values: one compiled group
"""


def study(rates="[0.01, 0.02]", epochs=1, description="first"):
    return study_from_text(BASE.format(rates=rates, epochs=epochs, description=description), "fp.toml")


def _sql(run_dir: Path, sql: str, args=()):
    conn = sqlite3.connect(run_dir / "results.sqlite")
    try:
        out = conn.execute(sql, args).fetchall()
        conn.commit()
        return out
    finally:
        conn.close()


def test_edited_study_trains_only_new_trials_and_shows_the_current_ones(tmp_path):
    out = tmp_path / "run"
    first = study()
    assert run_study(first, out).n_trained == 2
    cosmetic = study(description="edited text only")
    assert study_fingerprint(t.trial_id for t in cosmetic.trials) == study_fingerprint(t.trial_id for t in first.trials)
    assert run_study(cosmetic, out).n_trained == 0

    wider = run_study(study(rates="[0.01, 0.02, 0.03]"), out)  # one more value: only it trains
    assert (wider.n_trained, wider.n_skipped) == (1, 2)
    assert len(load(out).trials) == 3

    longer = run_study(study(rates="[0.01, 0.02, 0.03]", epochs=2), out)  # what is trained changed: all new trials
    assert longer.n_trained == 3
    current, every = load(out), load(out, all=True)
    assert len(current.trials) == 3 and set(current.trials["epochs_run"]) == {2}
    assert set(current.epochs["trial_id"]) == set(current.trials["trial_id"])
    assert len(every.trials) == 6 and set(every.trials["epochs_run"]) == {1, 2}
    assert len(sweeplab.load(out, all=True).trials) == 6 and len(sweeplab.load(out).trials) == 3
    assert len(sweeplab.load(out).summary()) == 3  # one row per configuration, not mixed with the 1-epoch runs

    back = run_study(study(rates="[0.01, 0.02, 0.03]"), out)  # back to the earlier version: nothing to train
    assert back.n_trained == 0 and set(load(out).trials["epochs_run"]) == {1}


def test_version_1_store_is_read_as_is_and_migrated_by_a_writer(tmp_path):
    with Store(tmp_path) as store:
        store.register([record("a"), record("b")])
        store.set_study("old", "text", {}, ["a"])
        store.commit_group([result("a"), result("b")])
    # What sweeplab 1 wrote: no size column, no study_trials, no fingerprint.
    _sql(tmp_path, "ALTER TABLE artifacts DROP COLUMN size")
    _sql(tmp_path, "DROP TABLE study_trials")
    _sql(tmp_path, "DELETE FROM meta WHERE key='study.fingerprint'")
    _sql(tmp_path, "UPDATE meta SET value='1' WHERE key='schema_version'")
    old = load(tmp_path)
    assert len(old.trials) == 2 and old.damaged_trials() == {}  # no fingerprint: every trial is current
    old.params("a")
    old.close()
    with Store(tmp_path) as store:
        assert store.finished_ids() == {"a", "b"}
    assert _sql(tmp_path, "SELECT value FROM meta WHERE key='schema_version'") == [(str(SCHEMA_VERSION),)]
    run = load(tmp_path)
    assert len(run.trials) == 2
    np.testing.assert_array_equal(run.params("b")["dense_0/bias"], np.zeros(3))


def test_fresh_moves_the_earlier_results_aside(tmp_path):
    out = tmp_path / "run"
    run_study(study(), out)
    (out / "notes.txt").write_text("mine")
    summary = run_study(study(), out, fresh=True)
    assert summary.n_trained == 2
    aside = summary.moved_aside
    assert aside is not None and aside.parent == tmp_path and aside.name.startswith("run.old-")
    assert (aside / "notes.txt").read_text() == "mine" and not (out / "notes.txt").exists()
    assert len(load(aside).trials) == 2 and load(aside).damaged_trials() == {}
    assert len(load(out).trials) == 2


def test_resume_retrains_damaged_trials_and_never_touches_outside(tmp_path):
    out = tmp_path / "run"
    s = study(rates="[0.01, 0.02, 0.03]")
    run_study(s, out)
    (tmp_path / "canary.txt").write_text("outside")
    a, b, c = (t.trial_id for t in s.trials)
    params = out / "trials" / a / "params.npz"
    data = bytearray(params.read_bytes())
    data[-30] ^= 0xFF
    params.write_bytes(bytes(data))
    _sql(out, "UPDATE artifacts SET path='../canary.txt' WHERE trial_id=? AND kind='params'", (b,))
    assert set(load(out).damaged_trials()) == {a, b}
    again = run_study(s, out)
    assert set(again.repaired) == {a, b} and again.n_trained == 2
    assert (tmp_path / "canary.txt").read_text() == "outside"
    assert load(out).damaged_trials() == {}
    assert len(load(out).trials) == 3 and set(load(out).trials["status"]) == {"finished"}


# Valid on its own, contradictory once planned: early stopping on val_loss without validation data.
BAD_MONITOR = BASE.replace("validation_split = 0.2\n", "").replace(
    "epochs = {epochs}", 'epochs = {epochs}\nearly_stopping = {{ monitor = "val_loss" }}')


def test_a_study_that_fails_planning_leaves_nothing(tmp_path):
    bad = study_from_text(BAD_MONITOR.format(rates="[0.01]", epochs=1, description="x"), "bad.toml")
    out = tmp_path / "a" / "b"
    with pytest.raises(ValueError, match="no validation data"):
        run_study(bad, out)
    assert not (tmp_path / "a").exists()

    text = tmp_path / "bad.toml"
    text.write_text(BAD_MONITOR.format(rates="[0.01]", epochs=1, description="x"))
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (out, empty):
        res = CliRunner().invoke(sweeplab.cli.app, ["run", str(text), "--out", str(target), "--no-report"])
        assert res.exit_code == 2, res.output
        assert "no validation data" in res.output
    assert not (tmp_path / "a").exists() and list(empty.iterdir()) == []


def test_the_cli_holds_the_writer_lock_from_reading_to_training(tmp_path, monkeypatch):
    """No other process can take the run directory between reading the finished trials and training (D11)."""
    out = tmp_path / "run"
    run_study(study(), out)
    text = tmp_path / "fp.toml"
    text.write_text(BASE.format(rates="[0.01, 0.02, 0.03]", epochs=1, description="x"))
    real_plan, seen = run_mod.plan, []

    def plan(*args, **kwargs):
        try:
            Store(out).close()  # what a second `sweeplab run` would do
            seen.append("free")
        except StoreError as exc:
            seen.append("locked" if "another sweeplab process" in str(exc) else str(exc))
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(run_mod, "plan", plan)
    res = CliRunner().invoke(sweeplab.cli.app, ["run", str(text), "--out", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    assert seen and set(seen) == {"locked"}, seen
    assert "trained 1, skipped 2" in res.output
    Store(out).close()  # released at the end
