"""Memory of the driver over a long sweep (issue 8, "RSS over a >= 300-trial sweep").

Runs ``sweeplab run STUDY --no-report`` as a subprocess on a digits study of
5 optimizers x 6 widths x 2 batch sizes x 5 seeds = 300 trials (60 compiled
groups; ``--max-group-size`` makes more), samples ``VmRSS`` of the driver from
``/proc/<pid>/status`` every ``--every`` seconds together with the number of
finished trials read from the store, and writes a JSON summary::

    SWEEPLAB_DATA=... .venv/bin/python benchmarks/reliability_rss.py [--epochs 2] [--max-group-size N]
        [--out benchmarks/results/reliability_rss.json] [--workdir /tmp/rss]

The summary gives RSS at 10 %, 50 % and 100 % of the trials, the maximum,
and the slope over the second half (MB per finished group), the figures the
reliability review reported (section 9).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = """
[study]
name = "rss"
description = "Memory soak: 5 optimizers x 6 widths x 2 batch sizes x 5 seeds."
seed = 0
repeats = 5

[data]
dataset = "digits"
validation_split = 0.2
test_size = 0.2

[model]
mlp = {{ hidden = [16], activation = "relu" }}

[train]
optimizer = "adam"
batch_size = 32
epochs = {epochs}

[sweep]
"train.optimizer" = ["sgd", "adam", "rmsprop", "adagrad", "nadam"]
"model.mlp.hidden" = [[8], [16], [24], [32], [48], [64]]
"train.batch_size" = [32, 64]
"""


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def finished(db: Path) -> tuple[int, int]:
    """(finished trials, finished groups) read from the store; (0, 0) before it exists."""
    if not db.exists():
        return 0, 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            n, g = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT \"group\" || finished) FROM trials WHERE status IN ('finished','diverged')"
            ).fetchone()
            return int(n), int(g)
        finally:
            conn.close()
    except sqlite3.Error:
        return 0, 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-group-size", type=int, default=None)
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reliability_rss.json")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="sweeplab-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    study = work / "rss.toml"
    study.write_text(STUDY.format(epochs=args.epochs))
    out = work / "run"
    cmd = [sys.executable, "-m", "sweeplab.cli", "run", str(study), "--out", str(out), "--no-report"]
    if args.max_group_size:
        cmd += ["--max-group-size", str(args.max_group_size)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        n, _ = finished(out / "results.sqlite")
        if mb is not None:
            samples.append((round(time.monotonic() - t0, 2), n, round(mb, 1)))
        time.sleep(args.every)
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {err[-2000:]}")
    seconds = time.monotonic() - t0

    conn = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    n_trials, n_groups = conn.execute('SELECT COUNT(*), COUNT(DISTINCT "group") FROM trials').fetchone()
    conn.close()

    def at(frac: float) -> float | None:
        hits = [mb for _, n, mb in samples if n >= frac * n_trials]
        return hits[0] if hits else None

    half = [(n, mb) for _, n, mb in samples if n >= n_trials / 2]
    slope = None
    if len(half) >= 2 and half[-1][0] > half[0][0]:
        per_trial = (half[-1][1] - half[0][1]) / (half[-1][0] - half[0][0])
        slope = round(per_trial * n_trials / max(n_groups, 1), 3)  # MB per group
    summary = {
        "study": "digits MLP: 5 optimizers x 6 widths x 2 batch sizes x 5 seeds",
        "epochs": args.epochs,
        "max_group_size": args.max_group_size,
        "trials": n_trials,
        "groups": n_groups,
        "seconds": round(seconds, 1),
        "rss_mb_at_10pct": at(0.1),
        "rss_mb_at_50pct": at(0.5),
        "rss_mb_at_100pct": samples[-1][2] if samples else None,
        "rss_mb_max": max((mb for *_, mb in samples), default=None),
        "slope_mb_per_group_second_half": slope,
        "samples": len(samples),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
