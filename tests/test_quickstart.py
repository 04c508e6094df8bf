"""The README's main job: `sweeplab run quickstart` trains every trial, prints the table, writes the report."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import sweeplab


@pytest.mark.slow
def test_quickstart_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "qs"
    cmd = [sys.executable, "-m", "sweeplab.cli", "run", "quickstart", "--out", str(out)]
    env = {**os.environ, "COLUMNS": "160", "SWEEPLAB_JAX_CACHE": str(tmp_path / "jax")}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "trained 18, skipped 0 finished" in first.stdout
    assert "mean ± std over seeds" in first.stdout
    for name in ("results.sqlite", "report.html", "report.md"):
        assert (out / name).is_file(), name
    assert list((out / "figures").glob("*.png")) and list((out / "tables").glob("*.tex"))

    run = sweeplab.load(out)
    assert len(run.trials) == 18 and set(run.trials["status"]) == {"finished"}
    best = run.summary().iloc[0]
    assert best["test_accuracy"] > 0.9  # an MLP on 8x8 digits

    again = subprocess.run(cmd + ["--no-report"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "trained 0, skipped 18 finished" in again.stdout
