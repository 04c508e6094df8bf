"""Seed 002's grid search against its 300-configuration TPE rewrite (issue 13), from the two stores.

    SWEEPLAB_DATA=... sweeplab reproduce 002 --study seed002-grid-search --out runs/reproduce
    SWEEPLAB_DATA=... sweeplab run seed002-search --out runs/seed002-search
    python benchmarks/search_vs_grid.py runs/reproduce/seed002/seed002-grid-search runs/seed002-search \
        > benchmarks/results/seed002-search-vs-grid.json

Both rank configurations by the held-out folds' accuracy (mean over 3 seeds x 5 folds at the last
epoch); the grid is restricted to labelling function f1, the one the search optimises. ``wall_s``:
first trial registered to last trial finished; ``group_s``: the sum over compiled groups of compile
time + epochs x seconds per epoch, as stored. ``best_after``: the search's best after its first k
configurations (the order it asked them in; a grid has no such order).
"""
import json, sqlite3, sys
from datetime import datetime
import numpy as np, pandas as pd
from sweeplab import store
from sweeplab.notebook import attach

def load(path, f1_only):
    r = attach(store.load(path)); t = r.data.trials.copy()
    con = sqlite3.connect(f"file:{path}/results.sqlite?mode=ro", uri=True)
    meta = pd.read_sql("select trial_id, config_id, overrides, created, finished, \"group\", compile_seconds, seconds_per_epoch, epochs_run from trials", con)
    meta["f"] = meta.overrides.map(lambda o: json.loads(o).get("data.params.function", "f1"))
    if f1_only:
        keep = set(meta.config_id[meta.f == "f1"]); t = t[t.config_id.isin(keep)]; meta = meta[meta.f == "f1"]
    meta = meta[meta.finished.notna()]
    t = t[t.status == "finished"]
    g = t.groupby("config_id").agg(val=("val_accuracy", "mean"), val_std=("val_accuracy", "std"), n=("val_accuracy", "size"),
                                   test=("test_accuracy", "mean"), test_std=("test_accuracy", "std"))
    order = meta.groupby("config_id").created.min().sort_values()
    g = g.loc[[c for c in order.index if c in g.index]]
    axes = [a for a in r.axes if a != "data.params.function"]
    first = t.drop_duplicates("config_id").set_index("config_id")[axes]
    ts = lambda s: datetime.fromisoformat(s)
    wall = (max(map(ts, meta.finished)) - min(map(ts, meta.created))).total_seconds()
    grp = meta.groupby("group").agg(c=("compile_seconds", "max"), s=("seconds_per_epoch", "max"), e=("epochs_run", "max"))
    compute = float((grp.c.fillna(0) + grp.s * grp.e).sum())
    return g, first, wall, compute, len(grp), len(t)

out = {}
for name, path, f1 in (("grid (f1)", sys.argv[1], True), ("tpe", sys.argv[2], False)):
    g, first, wall, compute, ngroups, ntrials = load(path, f1)
    b = g.val.idxmax()
    running = g.val.cummax()
    out[name] = dict(configs=len(g), trials=ntrials, groups=ngroups, wall_s=round(wall), group_s=round(compute),
                     best_val=f"{100*g.val[b]:.2f} ± {100*g.val_std[b]:.2f} (n={g.n[b]})",
                     test_of_best=f"{100*g.test[b]:.2f} ± {100*g.test_std[b]:.2f}",
                     best_config=first.loc[b].to_dict(),
                     best_after=None if f1 else {k: round(100*float(running.iloc[min(k, len(g)) - 1]), 2) for k in (30, 60, 100, 150, 300, 500) if k <= len(g)})
    out[name + " top5"] = g.sort_values("val", ascending=False).head(5).assign(**{a: first[a] for a in first.columns}).round(4).to_dict("records")
    if name == "grid (f1)":
        gbest, gstd, gn = g.val[b], g.val_std[b], g.n[b]
    else:
        se = np.sqrt(gstd**2 / gn + g.val_std[b]**2 / g.n[b])
        out["difference best tpe - best grid (val, pct points)"] = f"{100*(g.val[b]-gbest):+.2f} (2 s.e. = {200*se:.2f})"
        within = g[g.val >= gbest - 2 * np.sqrt(gstd**2 / gn + g.val_std**2 / g.n)]
        out["tpe configs within 2 s.e. of the grid's best"] = len(within)
        out["first tpe config within 2 s.e. (index)"] = int(list(g.index).index(within.index[0]) + 1) if len(within) else None
print(json.dumps(out, indent=1, default=str, ensure_ascii=False))
