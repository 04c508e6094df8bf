"""Batched TPE vs sequential TPE vs random search on a small real problem (issue 13).

Each strategy searches the same space for the same number of configurations on
the same data, through the same driver ``sweeplab run`` uses
(:func:`sweeplab.engine.search.run_search`), once per sampler seed:

* ``tpe-batched``: TPE asked ``--batch`` configurations at a time; those share one
  compiled, vmapped group (every axis is a per-trial number);
* ``tpe-sequential``: TPE asked one configuration at a time (k = 1), one group each;
* ``random``: random search, asked ``--batch`` at a time;
* ``cmaes``: CMA-ES, asked ``--batch`` at a time (its first round is random).

The space (learning rate, momentum, dropout) is all per-trial numbers, so every
round of a strategy reuses one compiled program: the comparison is the vmapped
group against one trial at a time, not compilation (the programs are compiled
cold once per run; the persistent compilation cache is not enabled).

Recorded per run: the best validation loss after each configuration (mean over the
configuration's seeds; a loss rather than accuracy because the 540 validation digits
make accuracies tie), and the wall time of the search with its programs already
compiled ("warm": a one-round warm-up of the same shapes runs first, and its time is
reported as "compile"). The JSON keeps every run; the summary prints medians over
sampler seeds.

    python benchmarks/search.py                  # digits, 30 configurations, batch 10, 20 epochs, 3 seeds
    python benchmarks/search.py --n-trials 60 --batch 10 --seeds 5 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

STUDY = """
[study]
name = "bench-search"
seed = 0
repeats = 1

[data]
dataset = "digits"
validation_split = 0.3

[model]
mlp = {{ hidden = [32], activation = "relu" }}

[train]
optimizer = "sgd"
batch_size = 64
epochs = {epochs}
metrics = ["accuracy"]

[sweep]
"train.learning_rate" = {{ loguniform = [1e-4, 1.0] }}
"train.optimizer_params.momentum" = {{ uniform = [0.0, 0.99] }}
"model.mlp.dropout" = {{ uniform = [0.0, 0.7] }}

[search]
metric = "val_loss"
strategy = "{strategy}"
n_trials = {n_trials}
batch = {batch}
seed = {seed}
"""

STRATEGIES = {"tpe-batched": ("tpe", None), "tpe-sequential": ("tpe", 1), "random": ("random", None),
              "cmaes": ("cmaes", None)}


def run_one(name: str, seed: int, args, root: Path) -> dict:
    from sweeplab.engine.search import run_search
    from sweeplab.engine.trainer import _PROGRAMS
    from sweeplab.spec.expand import study_from_text

    strategy, batch = STRATEGIES[name]
    k = batch or args.batch

    def study(n_trials, seed_):
        text = STUDY.format(strategy=strategy, n_trials=n_trials, batch=k, seed=seed_, epochs=args.epochs)
        return study_from_text(text, f"{name}.toml")

    _PROGRAMS.clear()  # every run compiles its own programs, once, in the warm-up
    t0 = time.perf_counter()
    run_search(study(k, 10_000 + seed), root / f"{name}-{seed}-warmup")
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run_search(study(args.n_trials, seed), root / f"{name}-{seed}")
    seconds = time.perf_counter() - t0
    values = [c.value if c.state == "complete" else float("nan") for c in out.configs]
    best, so_far = [], float("inf")
    for v in values:
        so_far = min(so_far, v) if v == v else so_far
        best.append(so_far)
    return {"strategy": name, "seed": seed, "seconds": seconds, "compile_seconds": compile_s,
            "groups": out.n_groups, "values": values, "best_so_far": best, "best": best[-1]}


def trials_to_reach(best_so_far: list[float], target: float) -> int | None:
    return next((i + 1 for i, b in enumerate(best_so_far) if b <= target), None)


def summarise(runs: list[dict]) -> dict:
    out = {}
    best_overall = min(r["best"] for r in runs)
    for name in STRATEGIES:
        rs = [r for r in runs if r["strategy"] == name]
        if not rs:
            continue
        target = 1.05 * best_overall
        reach = [trials_to_reach(r["best_so_far"], target) for r in rs]
        out[name] = {
            "median_best": statistics.median(r["best"] for r in rs),
            "median_seconds": statistics.median(r["seconds"] for r in rs),
            "median_compile_seconds": statistics.median(r["compile_seconds"] for r in rs),
            "median_groups": statistics.median(r["groups"] for r in rs),
            "median_best_at": {str(n): statistics.median(r["best_so_far"][n - 1] for r in rs)
                               for n in (5, 10, 20, len(rs[0]["best_so_far"])) if n <= len(rs[0]["best_so_far"])},
            "trials_to_within_5pct_of_best_loss": reach,
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-trials", type=int, default=30)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--only", default=",".join(STRATEGIES))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "search.json")
    args = p.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="sweeplab-bench-search-") as tmp:
        for seed in range(args.seeds):
            for name in args.only.split(","):
                r = run_one(name, seed, args, Path(tmp))
                runs.append(r)
                print(f"{name:15s} seed {seed}: best val loss {r['best']:.4f}, {r['groups']} groups, "
                      f"{r['seconds']:.1f} s warm (+{r['compile_seconds']:.1f} s warm-up)", flush=True)
    summary = summarise(runs)
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "machine": platform.platform(),
              "cpus": os.cpu_count(), "python": sys.version.split()[0], "summary": summary, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nmedian over {args.seeds} sampler seeds ({args.n_trials} configurations, {args.epochs} epochs):")
    print(f"{'strategy':15s} {'best val loss':>13s} {'warm s':>7s} {'compile s':>9s} {'groups':>7s}  "
          "best after 5/10/20/all; trials to within 5% of the best loss found")
    for name, s in summary.items():
        at = " / ".join(f"{v:.4f}" for v in s["median_best_at"].values())
        print(f"{name:15s} {s['median_best']:13.4f} {s['median_seconds']:7.1f} {s['median_compile_seconds']:9.1f} "
              f"{s['median_groups']:7.0f}  {at}; {s['trials_to_within_5pct_of_best_loss']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
