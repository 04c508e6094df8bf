"""Executor benchmark: one process using every core vs one worker process per core (vs Ray).

Usage:
    SWEEPLAB_DATA=/work/shared/data .venv/bin/python benchmarks/executors.py
        [--workloads W1,W3] [--groups 4] [--epochs 2] [--repeats 3] [--ray]
        [--out benchmarks/results/executors.json]

Each workload is a study of ``--groups`` groups of one trial each (W1: a sigmoid
neuron on MNIST 0-vs-rest, batch 32, 1,125 steps per epoch; W3: 784-64-10,
batch 30, 2,000 steps per epoch; the groups differ in one structural value so
that none shares a compiled program), ``--epochs`` epochs. Arrangements:

* ``local``: today's default, one process, XLA's thread pool over every core;
* ``processes``: ``--executor processes`` with one worker per core (each pinned
  to its core, XLA's Eigen pool off);
* ``processes-unpinned`` (``--unpinned``): the same without CPU affinity or XLA flags;
* ``ray`` (``--ray``): ``--executor ray`` on a one-node local cluster with one
  CPU per core (``ray start --head``), the cluster's start-up not counted.

Each measurement is a fresh Python process that times ``run_study`` from the
call to its return (planning, worker start-up, data, compilation, training,
commits; the interpreter's JAX import is outside). The JAX persistent cache is
one temporary folder for all runs, warmed by one unmeasured run of each
arrangement, so every timed run loads its programs from it. Reported: the
median of ``--repeats`` runs and the 1-minute load average before each run
(the machine is shared); and the steady epoch time (epochs 2..N, from the
store's ``epoch_seconds``), whose ratio says what the processes executor would
gain on long runs, where start-up no longer counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SWEEPLAB_DATA", "/work/shared/data")

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

WORKLOADS = {
    # name: (data section, model template with {v}, batch, values of v (one per group))
    "W1": ('[data]\ndataset = "mnist"\nvalidation_split = 0.4\ntask = {type = "binary", positive = [0]}\n',
           '[model]\nmlp = { hidden = [], activation = "relu" }\n[train]\noptimizer = "adam"\nbatch_size = {v}\n',
           None, [32, 33, 34, 35, 36, 37, 38, 39]),
    "W3": ('[data]\ndataset = "mnist"\n',
           '[model]\nmlp = { hidden = [{v}], activation = "relu" }\n[train]\noptimizer = "adam"\nbatch_size = 30\n',
           None, [64, 60, 56, 52, 48, 44, 40, 36]),
}


def study_text(name: str, groups: int, epochs: int) -> str:
    data, model, _, values = WORKLOADS[name]
    head = f'[study]\nname = "bench-exec-{name}"\nseed = 0\nrepeats = 1\n'
    train_tail = f"epochs = {epochs}\nshuffle = true\nmetrics = [\"accuracy\"]\n"
    key = "train.batch_size" if name == "W1" else "model.mlp.hidden"
    vals = values[:groups] if name == "W1" else [[v] for v in values[:groups]]
    sweep = f"[sweep]\n\"{key}\" = {json.dumps(vals)}\n"
    return head + data + model.replace("{v}", str(values[0])) + train_tail + sweep


CHILD = r"""
import json, sys, time
from pathlib import Path
from sweeplab.engine.cache import enable_compilation_cache
from sweeplab.engine.run import run_study
from sweeplab.spec.expand import load_study
enable_compilation_cache()
study = load_study(sys.argv[1])
kind, arg, out = sys.argv[2], sys.argv[3], sys.argv[4]
if kind.startswith("processes"):
    from sweeplab.engine.executor_processes import ProcessExecutor
    ex = ProcessExecutor(int(arg), pin=kind != "processes-unpinned")
elif kind == "ray":
    from sweeplab.engine.executor_ray import RayExecutor
    ex = RayExecutor(arg)
else:
    from sweeplab.engine.executor import LocalExecutor
    ex = LocalExecutor()
t0 = time.perf_counter()
summary = run_study(study, out, executor=ex)
dt = time.perf_counter() - t0
if hasattr(ex, "close"):
    ex.close()
import sqlite3, statistics
with sqlite3.connect(Path(out) / "results.sqlite") as c:
    per = [json.loads(x)[1:] for (x,) in c.execute("SELECT epoch_seconds FROM trials")]
steady = statistics.median(v for p in per for v in p) if any(per) else None
print(json.dumps({"seconds": dt, "trained": summary.n_trained, "steady_epoch_s": steady}))
"""


def one_run(study: Path, kind: str, arg: str, tmp: Path, env: dict) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp))
    load = os.getloadavg()[0]
    r = subprocess.run([sys.executable, "-c", CHILD, str(study), kind, arg, str(out / "r")], env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{r.stderr[-3000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["load1"] = round(load, 2)
    return res


def start_ray(env: dict, cores: int, tmp: Path):
    sys.path.insert(0, str(HERE.parent / "tests"))
    from ray_cluster import Cluster  # the tests' helper: ray start in a temp dir, killed by pid

    return Cluster(env, workers=0, cpus=cores)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="W1,W3")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--unpinned", action="store_true", help="also processes without CPU affinity")
    ap.add_argument("--out", default=str(HERE / "results" / "executors.json"))
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="sweeplab-bench-exec-"))
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "JAX_PLATFORMS": "cpu", "SWEEPLAB_JAX_CACHE": str(tmp / "jax-cache")}
    arrangements = [("local", "-"), ("processes", str(cores))]
    if args.unpinned:
        arrangements.append(("processes-unpinned", str(cores)))
    cluster = None
    if args.ray:
        cluster = start_ray(env, cores, tmp)
        arrangements.append(("ray", cluster.address))
    rows = []
    try:
        for name in args.workloads.split(","):
            study = tmp / f"{name}.toml"
            study.write_text(study_text(name, args.groups, args.epochs))
            for kind, arg in arrangements:  # warm the compilation cache
                one_run(study, kind, arg, tmp, env)
            runs: dict[str, list[dict]] = {k: [] for k, _ in arrangements}
            for _ in range(args.repeats):  # interleaved, so a load change hits every arrangement alike
                for kind, arg in arrangements:
                    runs[kind].append(one_run(study, kind, arg, tmp, env))
                    print(name, kind, runs[kind][-1], flush=True)
            med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
            # Steady state (epochs 2..N of every group, no start-up): the local run trains one group
            # at a time, the processes run ``cores`` at once, so its throughput ratio is
            # cores x (local epoch time) / (a worker's epoch time).
            ep = {k: statistics.median(r["steady_epoch_s"] for r in v) for k, v in runs.items()
                  if all(r.get("steady_epoch_s") for r in v)}
            # processes-unpinned, ray: the same ratio
            throughput = {k: round(cores * ep["local"] / v, 2) for k, v in ep.items() if k != "local"}
            rows.append({"workload": name, "groups": args.groups, "epochs": args.epochs,
                         "median_seconds": {k: round(v, 2) for k, v in med.items()},
                         "speedup_processes_vs_local": round(med["local"] / med["processes"], 2),
                         "median_steady_epoch_seconds": {k: round(v, 3) for k, v in ep.items()},
                         "steady_throughput_processes_vs_local": throughput.get("processes"),
                         "steady_throughput_vs_local": throughput,
                         "runs": runs})
    finally:
        if cluster is not None:
            cluster.stop()
    result = {
        "machine": {"cores": cores, "python": platform.python_version(), "platform": platform.platform(),
                    "load1_at_start": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "arrangements": [k for k, _ in arrangements], "workers": cores, "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(r["workload"], r["median_seconds"], "processes speed-up x", r["speedup_processes_vs_local"],
              "steady epoch s", r["median_steady_epoch_seconds"], "steady throughput x",
              r["steady_throughput_processes_vs_local"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
