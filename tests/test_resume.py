"""A run killed mid-study resumes: no duplicate or missing trials, finished trials untouched."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

STUDY = """
[study]
name = "resume"
seed = 0
repeats = 2

[data]
dataset = "digits"
validation_split = 0.2

[model]
mlp = { hidden = [8], activation = "relu" }

[train]
optimizer = "adam"
batch_size = 64
epochs = 4

[sweep]
"model.mlp.hidden" = [[4], [6], [8], [10], [12], [14]]   # six compiled groups of two seeds
"""


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("select count(*) from trials where status = 'finished'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _snapshot(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("select trial_id, status, finished, test from trials").fetchall()
        epochs = con.execute("select trial_id, split, metric, epoch, value from epochs").fetchall()
    finally:
        con.close()
    return {"trials": rows, "epochs": epochs}


def _cmd(study: Path, out: Path):
    return [sys.executable, "-m", "sweeplab.cli", "run", str(study), "--out", str(out), "--no-report"]


@pytest.mark.slow
def test_killed_run_resumes_without_duplicates(tmp_path):
    study = tmp_path / "resume.toml"
    study.write_text(STUDY)
    out = tmp_path / "run"
    db = out / "results.sqlite"
    env = {**os.environ, "SWEEPLAB_JAX_CACHE": "off"}
    proc = subprocess.Popen(_cmd(study, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while _finished(db) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()[-500:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _snapshot(db)
    done_before = {r[0]: r for r in before["trials"] if r[1] == "finished"}
    assert 2 <= len(done_before) < 12

    rerun = subprocess.run(_cmd(study, out), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"skipped {len(done_before)} finished" in rerun.stdout

    after = _snapshot(db)
    ids = [r[0] for r in after["trials"]]
    assert len(ids) == len(set(ids)) == 12
    assert all(r[1] == "finished" for r in after["trials"])
    # trials finished before the kill are untouched (same finish time and test metrics)
    rows = {r[0]: r for r in after["trials"]}
    for tid, row in done_before.items():
        assert rows[tid] == row
    old_epochs = {e for e in before["epochs"] if e[0] in done_before}
    assert old_epochs <= set(after["epochs"])
    # every trial has exactly 4 epochs of each of its metrics, no duplicates
    keys = [(e[0], e[1], e[2], e[3]) for e in after["epochs"]]
    assert len(keys) == len(set(keys))
    per_trial = {}
    for tid, split, metric, epoch in keys:
        per_trial.setdefault((tid, split, metric), set()).add(epoch)
    assert all(v == {1, 2, 3, 4} for v in per_trial.values())
