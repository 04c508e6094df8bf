"""Figures are drawn by forked workers; every worker is gone when the report is written."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from test_analysis_fixtures import make_run


@pytest.mark.skipif(not hasattr(os, "fork") or (os.cpu_count() or 1) < 2, reason="needs fork and 2 cores")
def test_report_command_leaves_no_worker_behind(tmp_path):
    d, _ = make_run(tmp_path / "run", sweep={"train.batch_size": [32, 64]}, repeats=2, grad_layers=2)
    proc = subprocess.Popen([sys.executable, "-m", "sweeplab.cli", "report", str(d)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(list((d / "figures").glob("*.png"))) >= 3
    deadline = time.monotonic() + 10
    while True:  # the command's whole process group (its workers too) has ended
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a report worker outlived the command"
        time.sleep(0.2)


def test_parallel_and_serial_drawing_give_the_same_pngs(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report import render
    from sweeplab.report.build import build_report

    d, _ = make_run(tmp_path / "run", sweep={"train.batch_size": [32, 64]}, repeats=2)
    figs = [it.figure for sec in build_report(RunData.from_run(d)).sections for it in sec.items
            if getattr(it, "figure", None) is not None]
    assert len(figs) >= 2
    parallel = render._draw_in_parallel(figs)
    if parallel is None:
        pytest.skip("no forked drawing here (one core, no fork, or JAX loaded in this test process)")
    assert parallel == [render.style.to_png(f) for f in figs]
