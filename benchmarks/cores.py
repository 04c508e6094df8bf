"""One group in one process: both cores vs pinned to one core; and local vs worker processes, bit for bit.

Usage:
    SWEEPLAB_DATA=/work/shared/data .venv/bin/python benchmarks/cores.py threads W3 --epochs 4 --repeats 3
    SWEEPLAB_DATA=/work/shared/data .venv/bin/python benchmarks/cores.py threads \\
        src/sweeplab/studies/seed000-best.toml --epochs 3 --repeats 2 --variants default,pin1+noeigen
    SWEEPLAB_DATA=/work/shared/data .venv/bin/python benchmarks/cores.py bits W1,W3

``threads``: a one-group study (``W1``/``W3`` of ``executors.py``, or a study file whose
``epochs`` is replaced) trained by ``run_study`` in a fresh process per run under each
variant, interleaved, ``--repeats`` times after one warm-up round (persistent cache shared):
``default`` (XLA's threads on every core), ``pin1`` (``taskset -c 0``), ``pin1+noeigen``
(and ``--xla_cpu_multi_thread_eigen=false``, as a one-core worker runs), or any
``--xla_...`` flag given as a variant. Prints the steady epoch time (median of epochs 2..N
from the store) per run and the median per variant. This is what ``engine/cost.py``'s
``thread_speedup`` is fitted to (``benchmarks/README.md``, "Cores").

``bits``: the same 2-group studies trained in one process and by 2 worker processes; prints
per trial whether the stored parameters are bit-equal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import executors as E  # noqa: E402  (the workloads and the timed child process)

VARIANTS = {
    "default": ([], {}),
    "pin1": (["taskset", "-c", "0"], {}),
    "pin1+noeigen": (["taskset", "-c", "0"], {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}),
}


def _env(tmp: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(E.SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "JAX_PLATFORMS": "cpu", "SWEEPLAB_JAX_CACHE": str(tmp / "jax-cache")}


def _study(src: str, groups: int, epochs: int, tmp: Path) -> Path:
    if src in E.WORKLOADS:
        text = E.study_text(src, groups, epochs)
    else:
        text = re.sub(r"(?m)^epochs = .*$", f"epochs = {epochs}", Path(src).read_text())
    p = tmp / "study.toml"
    p.write_text(text)
    return p


def _child(study: Path, kind: str, arg: str, out: Path, env: dict, prefix=()) -> dict:
    r = subprocess.run([*prefix, sys.executable, "-c", E.CHILD, str(study), kind, arg, str(out)], env=env,
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def threads(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sweeplab-bench-cores-"))
    env = _env(tmp)
    study = _study(args.study, 1, args.epochs, tmp)
    names = args.variants.split(",")
    res: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats + 1):  # round 0 warms the cache
        for n in names:
            prefix, extra = VARIANTS.get(n, ([], {"XLA_FLAGS": n}))
            d = _child(study, "local", "-", Path(tempfile.mkdtemp(dir=tmp)) / "r", {**env, **extra}, prefix)
            if r:
                res[n].append(d["steady_epoch_s"])
            print(r, n, f"steady epoch {d['steady_epoch_s']:.4f} s", f"wall {d['seconds']:.2f} s",
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(args.study, {n: round(statistics.median(v), 4) for n, v in res.items()})


def bits(args) -> None:
    sys.path.insert(0, str(E.SRC))
    from sweeplab.store import load

    tmp = Path(tempfile.mkdtemp(prefix="sweeplab-bench-bits-"))
    env = _env(tmp)
    for wl in args.study.split(","):
        study = _study(wl, 2, args.epochs, tmp)
        outs = {k: tmp / f"{wl}-{k}" for k in ("local", "processes")}
        _child(study, "local", "-", outs["local"], env)
        _child(study, "processes", "2", outs["processes"], env)
        with load(outs["local"]) as a, load(outs["processes"]) as b:
            for tid in a.trials.trial_id:
                pa, pb = a.params(tid), b.params(tid)
                same = all(np.array_equal(pa[k], pb[k]) for k in pa)
                worst = 0.0 if same else max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa)
                print(wl, tid, "bit-equal" if same else f"max |diff| {worst:.3g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["threads", "bits"])
    ap.add_argument("study", help="W1, W3 (bits: comma-separated) or a study file (threads)")
    ap.add_argument("--epochs", type=int, default=None, help="default: 4 (threads), 2 (bits)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default="default,pin1,pin1+noeigen")
    args = ap.parse_args(argv)
    if args.epochs is None:
        args.epochs = 4 if args.what == "threads" else 2
    (threads if args.what == "threads" else bits)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
