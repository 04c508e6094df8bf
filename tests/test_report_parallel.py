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


@pytest.mark.skipif(not hasattr(os, "fork") or (os.cpu_count() or 1) < 2, reason="needs fork and 2 cores")
def test_parallel_and_serial_drawing_give_the_same_pngs(tmp_path):
    d, _ = make_run(tmp_path / "run", sweep={"train.batch_size": [32, 64]}, repeats=2)
    code = f"""
from sweeplab.analysis.rundata import RunData
from sweeplab.report import render
from sweeplab.report.build import build_report
figs = [it.figure for sec in build_report(RunData.from_run({str(d)!r})).sections for it in sec.items
        if getattr(it, "figure", None) is not None]
parallel = render._draw_in_parallel(figs)
assert parallel is not None, "drawing was not parallel"
assert len(figs) >= 2 and parallel == [render.style.to_png(f) for f in figs]
print("same", len(figs))
"""
    # A fresh process: this one may have JAX loaded by other tests, and then drawing stays serial.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("same")
