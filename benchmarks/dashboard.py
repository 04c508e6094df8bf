"""``sweeplab serve`` on a large store: time to the first page and the JSON endpoints.

Builds (once, reused afterwards) a synthetic store shaped like seed 002's grid search
(``seed002-grid-search``: 3 functions x 5 optimizers x 4 activations x 5 hidden sizes x
5 dropout rates = 1,500 configurations x 3 repeats x 5 folds = 22,500 trials, 50 epochs,
train/val loss and accuracy: 4.5 million epoch rows) by writing trials through the real
``Store`` API in groups, then times the dashboard's endpoints through the ASGI test client:

* ``/api/runs`` cold (the first request reads the trials once) and warm (what the pages poll);
* ``/api/runs/<id>/summary`` (best sentence, effects, heat map, parallel coordinates,
  comparison with the best), cold and warm;
* ``/api/runs/<id>/configs`` (a 25-row page of the 1,500-row table), sorted and filtered;
* ``/api/runs/<id>/curves`` (seed mean ± std of one configuration: 15 trials' epochs);
* the size of each response (what the browser receives).

"First page" = ``/api/runs`` + ``summary`` + ``configs`` + ``curves`` on a fresh server,
i.e. everything the study page needs before it has drawn.

Usage::

    python benchmarks/dashboard.py [--dir /tmp/sweeplab-bench/grid] [--rebuild] [--out benchmarks/results/dashboard.json]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

AXES = {
    "data.params.function": ["f1", "f2", "f3"],
    "train.optimizer": ["sgd", "rmsprop", "adagrad", "adam", "nadam"],
    "model.mlp.activation": ["sigmoid", "tanh", "relu", "elu"],
    "model.mlp.hidden": [[5, 5], [10, 10], [15, 15], [20, 20], [25, 25]],
    "model.mlp.dropout": [0.1, 0.2, 0.3, 0.4, 0.5],
}
REPEATS, FOLDS, EPOCHS = 3, 5, 50


def _id(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build(run_dir: Path, group_size: int = 75) -> float:
    """Write the synthetic grid through the Store API; returns seconds taken."""
    from sweeplab.store import FINISHED, Store, TrialRecord, TrialResult

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    spec = {"study": {"name": "seed002-grid-search (synthetic)", "seed": 0, "repeats": REPEATS},
            "data": {"dataset": "synthetic2d", "params": {"function": "f1", "n_samples": 4000}},
            "model": {"mlp": {"hidden": [20, 20], "activation": "relu", "dropout": 0.1}},
            "train": {"optimizer": "sgd", "metrics": ["accuracy"], "epochs": EPOCHS, "cross_validation": FOLDS},
            "sweep": AXES, "report": {}}
    records, plans = [], []
    for ci, combo in enumerate(itertools.product(*AXES.values())):
        overrides = dict(zip(AXES, combo))
        cid = _id(overrides)
        quality = 0.5 + 0.4 * rng.random()
        for rep in range(REPEATS):
            for fold in range(FOLDS):
                tid = _id(overrides, rep, fold)
                records.append(TrialRecord(tid, {"data": spec["data"], "model": spec["model"], "train": spec["train"]},
                                           overrides, cid, rep, rep, fold, f"g{ci // 5}"))
                plans.append((tid, quality))
    t = np.arange(1, EPOCHS + 1)
    with Store(run_dir) as store:
        store.set_study(spec["study"]["name"], "# synthetic", spec, [r.trial_id for r in records])
        store.register(records)
        for i in range(0, len(plans), group_size):
            results = []
            for tid, q in plans[i:i + group_size]:
                noise = rng.normal(0, 0.01, size=(4, EPOCHS))
                hist = {("train", "loss"): list(np.exp(-t / 10) + 0.2 + noise[0]),
                        ("val", "loss"): list(np.exp(-t / 12) + 0.25 + noise[1]),
                        ("train", "accuracy"): list(q * (1 - np.exp(-t / 5)) + noise[2]),
                        ("val", "accuracy"): list(q * (1 - np.exp(-t / 5)) - 0.02 + noise[3])}
                final = {f"{s}_{m}": v[-1] for (s, m), v in hist.items()}
                results.append(TrialResult(tid, FINISHED, EPOCHS, hist, test={}, final=final,
                                           epoch_seconds=[0.01] * EPOCHS, n_params=100))
            store.commit_group(results)
    return time.perf_counter() - t0


def timed(client, url: str) -> tuple[float, int, dict]:
    t0 = time.perf_counter()
    r = client.get(url)
    dt = time.perf_counter() - t0
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return dt, len(r.content), r.json()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/sweeplab-bench/grid"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "dashboard.json")
    args = ap.parse_args()
    from starlette.testclient import TestClient

    from sweeplab.dashboard.app import create_app

    built = None
    if args.rebuild or not (args.dir / "results.sqlite").exists():
        if args.dir.exists():
            import shutil

            shutil.rmtree(args.dir)
        built = build(args.dir)
        print(f"built {args.dir} in {built:.1f} s")
    size_mb = (args.dir / "results.sqlite").stat().st_size / 1e6
    rows: dict[str, dict] = {}

    def measure(name, client, url):
        dt, n, body = timed(client, url)
        rows[name] = {"seconds": round(dt, 3), "bytes": n}
        print(f"{name:34s} {dt * 1e3:8.0f} ms  {n / 1e3:8.1f} kB")
        return body

    client = TestClient(create_app([args.dir]), base_url="http://127.0.0.1")
    time.sleep(5)  # a served dashboard imports pandas/matplotlib while the user opens the browser
    t0 = time.perf_counter()
    runs = measure("runs (cold: reads the trials)", client, "/api/runs")
    rid = runs["runs"][0]["id"]
    assert runs["runs"][0]["total"] == 22500, runs
    s = measure("summary (cold)", client, f"/api/runs/{rid}/summary")
    t = measure("configs page 1 (25 rows)", client, f"/api/runs/{rid}/configs?limit=25")
    measure("curves of the best (15 trials)", client, f"/api/runs/{rid}/curves?config={s['best_config']}")
    first_page = time.perf_counter() - t0
    print(f"{'first page (all of the above)':34s} {first_page * 1e3:8.0f} ms")
    measure("analyses (effects, heat map, ...)", client, f"/api/runs/{rid}/analyses")
    complete = time.perf_counter() - t0
    print(f"{'complete page':34s} {complete * 1e3:8.0f} ms")
    measure("runs (warm: what pages poll)", client, "/api/runs")
    measure("summary (warm)", client, f"/api/runs/{rid}/summary")
    measure("configs sorted by an axis", client, f"/api/runs/{rid}/configs?limit=25&sort=model.mlp.hidden")
    measure("configs filtered (relu)", client, f"/api/runs/{rid}/configs?limit=25&q=activation%3Drelu")
    measure("configs page 40", client, f"/api/runs/{rid}/configs?limit=25&offset=975")
    out = {"trials": 22500, "configurations": t["total"], "epochs": EPOCHS, "store_mb": round(size_mb, 1),
           "build_seconds": None if built is None else round(built, 1), "first_page_seconds": round(first_page, 3),
           "complete_page_seconds": round(complete, 3),
           "endpoints": rows, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_average": os.getloadavg()},
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"store {size_mb:.0f} MB; written {args.out}")


if __name__ == "__main__":
    main()
