"""Synthetic results stores for the analysis and report tests (no training).

``make_run`` writes a real store through the Store API: trials over a grid
of sweep values x seeds, with per-epoch histories, test metrics, gradient
norms, predictions and parameters that are fabricated but consistent.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np

from sweeplab.store import FINISHED, Store, TrialRecord, TrialResult


def _id(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_run(
    run_dir,
    *,
    sweep: dict | None = None,
    repeats: int = 3,
    epochs: int = 5,
    name: str = "synthetic-study",
    n_classes: int = 2,
    n_test: int = 200,
    grad_layers: int = 0,
    artifacts: str = "best",
    conv: bool = False,
    report: dict | None = None,
    data: dict | None = None,
    seed: int = 0,
):
    """Write a store with one trial per (sweep value combination, repeat).

    ``artifacts``: "all", "best" (first configuration only) or "none" for
    params/predictions. Returns ``(run_dir, truth)`` where truth maps
    trial_id -> dict of what was stored.
    """
    sweep = sweep if sweep is not None else {"train.batch_size": [32, 64, "full"]}
    rng = np.random.default_rng(seed)
    axes = list(sweep)
    combos = list(itertools.product(*sweep.values())) if sweep else [()]
    data = data or {"dataset": "mnist", "task": {"type": "binary", "positive": [0]}}
    spec = {
        "study": {"name": name, "seed": 0, "repeats": repeats},
        "data": data,
        "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 1}]},
        "train": {"metrics": ["accuracy", "f1"], "epochs": epochs},
        "sweep": sweep,
        "report": report or {},
    }
    records, results, truth = [], [], {}
    for ci, combo in enumerate(combos):
        overrides = dict(zip(axes, combo))
        config_id = _id(overrides)
        quality = 0.6 + 0.35 * (1 - ci / max(1, len(combos)))  # first configuration best
        for rep in range(repeats):
            tid = _id(overrides, rep)
            records.append(TrialRecord(tid, {"data": data, "model": spec["model"], "train": spec["train"]},
                                       overrides, config_id, 100 + rep, rep, None, "g0"))
            t = np.arange(1, epochs + 1)
            noise = rng.normal(0, 0.01, size=4)
            hist = {
                ("train", "loss"): list(np.exp(-t / 3) + 0.1 + noise[0]),
                ("val", "loss"): list(np.exp(-t / 4) + 0.15 + noise[1]),
                ("train", "accuracy"): list(quality * (1 - np.exp(-t)) + noise[2]),
                ("val", "accuracy"): list(quality * (1 - np.exp(-t)) - 0.02 + noise[3]),
            }
            grads = {}
            for layer in range(1, grad_layers + 1):
                grads[("grad", f"dense_{layer}/kernel")] = list(rng.uniform(0.1, 1, epochs) * 0.5**layer)
                grads[("grad", f"dense_{layer}/bias")] = list(rng.uniform(0.1, 1, epochs) * 0.3**layer)
            hist.update(grads)
            acc = quality + rng.normal(0, 0.01)
            test = {"accuracy": acc, "loss": 1 - acc + rng.normal(0, 0.01), "f1": acc - 0.05}
            final = {f"{s}_{m}": v[-1] for (s, m), v in hist.items() if s != "grad"}
            y_true = rng.integers(0, n_classes, n_test)
            flip = rng.random(n_test) > acc
            y_pred = np.where(flip, (y_true + 1 + rng.integers(0, max(1, n_classes - 1), n_test)) % n_classes, y_true)
            if n_classes == 2:
                proba = np.clip(np.where(y_pred == 1, 0.5 + rng.random(n_test) / 2, rng.random(n_test) / 2), 0, 1)
            else:
                proba = rng.dirichlet(np.ones(n_classes), n_test)
                proba[np.arange(n_test), y_pred] += 1.0
                proba /= proba.sum(1, keepdims=True)
            keep = artifacts == "all" or (artifacts == "best" and ci == 0)
            params = {"dense_1/kernel": rng.normal(size=(4, 3)).astype(np.float32),
                      "dense_1/bias": np.zeros(3, np.float32)}
            if conv:
                params["conv2d_1/kernel"] = rng.normal(size=(3, 3, 1, 6)).astype(np.float32)
                params["conv2d_1/bias"] = np.zeros(6, np.float32)
            preds = {"y_true/output": y_true, "y_pred/output": y_pred, "proba/output": proba,
                     "index": rng.permutation(n_test)}
            results.append(TrialResult(
                tid, FINISHED, epochs, hist, test=test, final=final, confusion={},
                epoch_seconds=list(rng.uniform(0.1, 0.2, epochs)), n_params=15 + ci,
                params=params if keep else None, predictions=preds if keep else None,
            ))
            truth[tid] = {"overrides": overrides, "config_id": config_id, "test": test, "hist": hist,
                          "predictions": preds, "repeat": rep}
    with Store(run_dir) as store:
        store.set_study(name, "# synthetic", spec)
        store.register(records)
        for i in range(0, len(results), 50):
            store.commit_group(results[i:i + 50])
    return run_dir, truth
