"""Whole built-in studies timed end to end (issue 10): planning, compilation, training, report.

Usage:
    SWEEPLAB_DATA=/path/to/data .venv/bin/python benchmarks/studies.py
        [--only seed000-activation,seed003-cnn] [--epochs 2] [--subsample 6000]
        [--keras seed000-activation,...] [--no-keras] [--out benchmarks/results/studies.json]

Each study runs *reduced* through the path ``sweeplab run`` takes (``engine.run.run_study``
into a temporary run directory, then ``report.write_report``): every configuration and
seed, but at most ``--epochs`` epochs, and the training split of MNIST-sized datasets cut
to ``--subsample`` images (0: the whole split). Timed per phase: load (parse + expand),
plan, run (per group: the first epoch, which includes compiling, the steady epochs, and
the rest of the group: setup, test predictions, store commit), report.

Extrapolation to the full study: every group's steady epoch is scaled by its full
steps per epoch over the measured ones (the validation pass does not shrink with
``--subsample``, so this overestimates a little), the first epoch's extra (compilation)
is added once, and the group's non-epoch time once; load and plan are measured on the
full study (planning prepares its full data); the report is the reduced run's. Early
stopping can end a full run sooner: not modelled (an upper bound).

Keras 3 on the same trials, one seed (``repeat == 0``), for the studies in ``--keras``:
each configuration's model is the one ``sweeplab export --format keras`` writes
(``export.keras.to_keras``, the preprocessing as layers), compiled with the trial's
optimizer, learning rate and loss, and ``fit`` on the same (reduced) data, batch size and
validation data, timed per epoch by a callback; extrapolated the same way. The backend
is whatever ``KERAS_BACKEND`` says (default: jax; TensorFlow is not installed here).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SWEEPLAB_DATA", "/work/shared/data")
os.environ.setdefault("KERAS_BACKEND", "jax")

from sweeplab.engine.events import EpochDone, GroupFinished, GroupStarted  # noqa: E402
from sweeplab.engine.run import plan, run_study  # noqa: E402
from sweeplab.spec.expand import load_study, study_from_text  # noqa: E402

STUDIES = ["seed000-batch-size", "seed000-activation", "seed000-hidden-units", "seed000-optimizers",
           "seed000-best", "seed000-improved", "seed001-depth-activation", "seed002-initializers",
           "seed003-cnn", "seed004-mlp-optimizers"]
KERAS_DEFAULT = [s for s in STUDIES if s.startswith("seed000-")]
LARGE = ("mnist", "fashion-mnist")


def reduced(name: str, epochs: int, subsample: int):
    """``(study, full study)``: ``name`` with at most ``epochs`` epochs and ``subsample`` training images."""
    full = load_study(name)
    raw = copy.deepcopy(dict(full.raw))
    train, data = raw.setdefault("train", {}), raw.setdefault("data", {})
    train["epochs"] = min(int(train.get("epochs", 1)), epochs)
    swept = [v for k, vs in (raw.get("sweep") or {}).items() if k == "data.dataset" for v in vs]
    if subsample and ({data.get("dataset")} | set(swept)) & set(LARGE):
        data["subsample"] = min(int(data.get("subsample") or subsample), subsample)
    return study_from_text(json.dumps(raw), f"{name}.bench.yaml"), full


class Recorder:
    """Collects the run's progress events: per group its trials, steps and epoch seconds."""

    def __init__(self):
        self.groups: dict[int, dict] = {}

    def __call__(self, ev) -> None:
        if isinstance(ev, GroupStarted):
            self.groups[ev.index] = {"trials": ev.n_trials, "epochs": ev.epochs, "steps": ev.steps,
                                     "epoch_s": [], "label": ev.label}
        elif isinstance(ev, EpochDone):
            self.groups[ev.index]["epoch_s"].append(ev.seconds)
        elif isinstance(ev, GroupFinished):
            self.groups[ev.index]["group_s"] = ev.seconds


def bench_study(name: str, epochs: int, subsample: int, workdir: Path) -> dict:
    from sweeplab.report import write_report

    t0 = time.perf_counter()
    study, full = reduced(name, epochs, subsample)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    planned = plan(study)
    t_plan = time.perf_counter() - t0
    t0 = time.perf_counter()
    full_plan = plan(full)
    t_plan_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    full_again = load_study(name)  # the full study's load time (parse + expand)
    t_load_full = time.perf_counter() - t0
    del full_again
    rec = Recorder()
    run_dir = workdir / name
    t0 = time.perf_counter()
    summary = run_study(study, run_dir, progress=rec, planned=planned)
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_report(run_dir, force=True)
    t_report = time.perf_counter() - t0

    full_work = [full_plan.work[g.key] for g in full_plan.groups]
    groups = []
    extrap = 0.0
    for i, g in sorted(rec.groups.items()):
        e = g["epoch_s"]
        steady = statistics.median(e[1:]) if len(e) > 1 else e[0]
        fw = full_work[i] if len(full_work) == len(rec.groups) else None
        scale = (fw.steps / g["steps"]) if fw and g["steps"] else 1.0
        full_epochs = fw.epochs if fw else g["epochs"]
        other = g.get("group_s", sum(e)) - sum(e)
        g_full = (e[0] - steady) + full_epochs * steady * scale + other
        extrap += g_full
        groups.append({**g, "steady_s": steady, "first_minus_steady_s": e[0] - steady, "other_s": other,
                       "full_epochs": full_epochs, "full_steps": fw.steps if fw else None,
                       "step_scale": scale, "full_s_extrapolated": g_full})
    total = t_load + t_plan + t_run + t_report
    full_total = t_load_full + t_plan_full + extrap + t_report
    return {"study": name, "trials": len(study.trials), "groups": len(planned.groups),
            "trials_trained": summary.n_trained, "epochs_run": epochs, "subsample": subsample,
            "seconds": {"load": t_load, "plan": t_plan, "run": t_run, "report": t_report, "total": total,
                        "compile_first_epoch_extra": sum(g["first_minus_steady_s"] for g in groups),
                        "steady_epochs": sum(g["steady_s"] * max(len(g["epoch_s"]) - 1, 0) for g in groups)},
            "full": {"trials": len(full.trials), "groups": len(full_plan.groups), "load_s": t_load_full,
                     "plan_s": t_plan_full, "train_s_extrapolated": extrap, "total_s_extrapolated": full_total},
            "per_group": groups, "_study": study, "_full_work": full_work}


# --------------------------------------------------------------------------- Keras 3
_KERAS_OPT = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta",
              "adamax": "Adamax", "nadam": "Nadam", "ftrl": "Ftrl"}
_KERAS_LOSS = {"categorical_crossentropy": "sparse_categorical_crossentropy"}


def keras_study(res: dict) -> dict:
    """Keras on the reduced study's repeat-0 trials: per-epoch seconds and the extrapolation."""
    import jax
    import numpy as np

    from sweeplab.engine.trainer import flatten_params
    from sweeplab.export.keras import import_keras, to_keras
    from sweeplab.trained import TrainedModel
    from sweeplab.trial import TrialContext

    keras = import_keras()
    study = res["_study"]
    seed = study.spec.study.seed
    full_work = res["_full_work"]
    groups = plan(study).groups
    out = {"backend": keras.backend.backend(), "keras": keras.__version__, "trials": [], "errors": []}
    total_full = 0.0
    for i, t in ((i, t) for i, g in enumerate(groups) for t in g.trials if t.repeat == 0):
        try:
            ctx = TrialContext.from_config(t.config, seed)
            params, _ = ctx.model.init(jax.random.PRNGKey(t.seed))
            tm = TrainedModel(t.config, flatten_params(params), trial_id=t.trial_id, study_seed=seed)
            km = to_keras(tm, compile=False)
            tr = t.config["train"]
            opt = getattr(keras.optimizers, _KERAS_OPT[tr["optimizer"]])(
                **({"learning_rate": tr["learning_rate"]} if tr.get("learning_rate") is not None else {}))
            head = ctx.model.heads[0]
            km.compile(optimizer=opt, loss=_KERAS_LOSS.get(head.loss, head.loss), metrics=["accuracy"])
            d = ctx.data
            y = np.asarray(d.train.y[head.name])
            val = None if d.val is None else (np.asarray(d.val.x), np.asarray(d.val.y[head.name]))
            times: list[float] = []

            class Timer(keras.callbacks.Callback):
                def on_epoch_begin(self, epoch, logs=None):
                    self.t0 = time.perf_counter()

                def on_epoch_end(self, epoch, logs=None):
                    times.append(time.perf_counter() - self.t0)

            bs = len(y) if tr["batch_size"] == "full" else int(tr["batch_size"])
            km.fit(np.asarray(d.train.x), y, batch_size=bs, epochs=int(tr["epochs"]), shuffle=True,
                   validation_data=val, verbose=0, callbacks=[Timer()])
            steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
            fw = full_work[i] if len(full_work) == len(groups) else None
            steps = -(-len(y) // bs)
            scale = fw.steps / steps if fw else 1.0
            full_s = (times[0] - steady) + (fw.epochs if fw else len(times)) * steady * scale
            total_full += full_s
            out["trials"].append({"trial": t.trial_id, "overrides": t.overrides, "epoch_s": times,
                                  "steady_s": steady, "full_s_extrapolated": full_s})
        except Exception as e:  # noqa: BLE001 - recorded, the benchmark goes on
            out["errors"].append(f"{t.trial_id} {t.overrides}: {type(e).__name__}: {e}")
    out["total_s_measured"] = sum(sum(x["epoch_s"]) for x in out["trials"])
    out["full_s_extrapolated_one_seed"] = total_full
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated studies (default: " + ",".join(STUDIES) + ")")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per trial (>= 2: the first includes compiling)")
    ap.add_argument("--subsample", type=int, default=6000,
                    help="training images of MNIST/Fashion-MNIST (0: all; the epoch is scaled up by steps)")
    ap.add_argument("--keras", default=",".join(KERAS_DEFAULT), help="studies also trained by Keras 3 (one seed)")
    ap.add_argument("--no-keras", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "studies.json"))
    args = ap.parse_args(argv)
    names = [s for s in args.only.split(",") if s] or STUDIES
    keras_names = set() if args.no_keras else {s for s in args.keras.split(",") if s}
    import jax

    info = {"cpu_count": os.cpu_count(), "jax": jax.__version__, "backend": jax.default_backend(),
            "loadavg_start": os.getloadavg(), "settings": vars(args), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweeplab-studies-") as tmp:
        for name in names:
            print(f"{name}: running (epochs {args.epochs}, subsample {args.subsample or 'all'})", flush=True)
            res = bench_study(name, args.epochs, args.subsample, Path(tmp))
            if name in keras_names:
                res["keras"] = keras_study(res)
            res.pop("_study"), res.pop("_full_work")
            s, f = res["seconds"], res["full"]
            print(f"  {res['trials']} trials, {res['groups']} groups: load {s['load']:.1f} plan {s['plan']:.1f} "
                  f"run {s['run']:.1f} (compile+first-epoch extra {s['compile_first_epoch_extra']:.1f}) "
                  f"report {s['report']:.1f} = {s['total']:.1f} s; full size extrapolated "
                  f"{f['total_s_extrapolated']:.0f} s" + (f"; Keras one seed {res['keras']['total_s_measured']:.1f} s "
                                                          f"(full {res['keras']['full_s_extrapolated_one_seed']:.0f} s, "
                                                          f"{len(res['keras']['errors'])} errors)"
                                                          if "keras" in res else ""), flush=True)
            rows.append(res)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"machine": info, "partial": True, "studies": rows},
                                                 indent=1, default=str) + "\n")
    info["loadavg_end"] = os.getloadavg()
    table = render(rows)
    print(table)
    Path(args.out).write_text(json.dumps({"machine": info, "studies": rows, "table": table},
                                         indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


def render(rows) -> str:
    head = ["study", "trials", "groups", "load s", "plan s", "run s", "compile extra s", "report s", "total s",
            "full: trials", "full: extrapolated s", "Keras 1 seed s", "Keras full 1 seed s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        s, f, k = r["seconds"], r["full"], r.get("keras")
        cells = [r["study"], str(r["trials"]), str(r["groups"])] + [f"{s[x]:.1f}" for x in ("load", "plan", "run")]
        cells += [f"{s['compile_first_epoch_extra']:.1f}", f"{s['report']:.1f}", f"{s['total']:.1f}",
                  str(f["trials"]), f"{f['total_s_extrapolated']:.0f}"]
        cells += ["-", "-"] if not k else [f"{k['total_s_measured']:.1f}", f"{k['full_s_extrapolated_one_seed']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
