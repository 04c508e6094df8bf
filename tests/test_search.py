"""Random and TPE search (issue 13): determinism, resume, batched asks, pruning, the report's sections."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

pytest.importorskip("optuna")

from sweeplab.engine import events
from sweeplab.engine.executor import LocalExecutor
from sweeplab.engine.search import ConfigResult, distribution, run_search, sampler, search_plan
from sweeplab.spec.expand import study_from_text
from sweeplab.spec.space import Axis
from sweeplab.store import load

STUDY = """
[study]
name = "search"
seed = 3
repeats = 2

[data]
dataset = "synthetic2d"
params = {{ n_samples = 200 }}
validation_split = 0.3

[model]
mlp = {{ hidden = [8], activation = "relu" }}

[train]
optimizer = "adam"
batch_size = 64
epochs = {epochs}

[sweep]
"train.learning_rate" = {{ loguniform = [1e-4, 1e-1] }}
"model.mlp.dropout" = {{ uniform = [0.0, 0.5] }}
{extra_sweep}

[search]
strategy = "{strategy}"
n_trials = {n_trials}
{batch}
{extra}
"""


def make(strategy="tpe", n_trials=6, batch=3, epochs=1, extra="", extra_sweep=""):
    batch = "" if batch is None else f"batch = {batch}"
    return study_from_text(STUDY.format(strategy=strategy, n_trials=n_trials, batch=batch, epochs=epochs,
                                        extra=extra, extra_sweep=extra_sweep), "search.toml")


def asked(summary) -> list[dict]:
    return [c.overrides for c in summary.configs]


def test_same_seed_same_configurations_and_another_seed_differs(tmp_path):
    # TPE with 2 startup trials so the second round is TPE proper, told values from training
    s = make(n_trials=4, batch=2, extra="")
    a = run_search(s, tmp_path / "a")
    b = run_search(s, tmp_path / "b")
    assert asked(a) == asked(b) and len(asked(a)) == 4
    assert [c.value for c in a.configs] == [c.value for c in b.configs]
    other = run_search(make(n_trials=4, batch=2, extra="seed = 99"), tmp_path / "c")
    assert asked(other) != asked(a)


class _Crash(Exception):
    pass


class _CrashAfter(LocalExecutor):
    """A LocalExecutor that trains ``n`` groups, then fails (a kill mid-search)."""

    def __init__(self, n):
        super().__init__()
        self.left = n

    def results(self, emit=events.ignore):
        for done in super().results(emit):
            if self.left == 0:
                raise _Crash()
            self.left -= 1
            yield done


def test_resume_after_a_stop_mid_search_asks_what_an_uninterrupted_run_asks(tmp_path):
    # two structures (hidden width 4 or 8) -> two groups per round; crash inside round 2
    sweep = '"model.mlp.hidden" = [[4], [8]]'
    s = make(n_trials=6, batch=3, extra_sweep=sweep)
    whole = run_search(s, tmp_path / "whole")
    first = run_search(s, tmp_path / "cut", stop_after_rounds=1)
    assert asked(first) == asked(whole)[:3]
    groups_round2 = len({json.dumps(c["model.mlp.hidden"]) for c in asked(whole)[3:6]})
    with pytest.raises(_Crash):
        run_search(s, tmp_path / "cut", executor=_CrashAfter(groups_round2 - 1))
    rest = run_search(s, tmp_path / "cut")
    assert asked(rest) == asked(whole)
    assert [c.value for c in rest.configs] == [c.value for c in whole.configs]
    assert rest.n_trained < whole.n_trained  # round 1 (and part of round 2) came from the store
    assert set(load(tmp_path / "cut").trials["trial_id"]) == set(load(tmp_path / "whole").trials["trial_id"])


def test_batched_asks_train_same_structure_configurations_as_one_group(tmp_path):
    s = make(strategy="random", n_trials=6, batch=3)
    seen = []
    out = run_search(s, tmp_path / "r", progress=seen.append)
    started = [e for e in seen if isinstance(e, events.GroupStarted)]
    assert len(started) == 2  # two rounds, each ONE vmapped group of 3 configurations x 2 seeds
    assert [e.n_trials for e in started] == [6, 6]
    assert out.n_groups == 2 and out.n_trained == 12
    assert len({json.dumps(c) for c in asked(out)}) == 6


def test_default_batch_is_n_trials_over_ten_capped_by_one_groups_memory():
    assert search_plan(make(n_trials=300, batch=None)).batch == 30
    assert search_plan(make(n_trials=5, batch=None)).batch == 1
    assert search_plan(make(n_trials=300, batch=7)).batch == 7


def test_pruned_trials_are_recorded_with_their_epochs(tmp_path):
    s = make(strategy="random", n_trials=4, batch=4, epochs=3, extra='pruner = "median"\nmin_trials = 2')
    out = run_search(s, tmp_path / "p")
    t = load(tmp_path / "p").trials.set_index("trial_id")
    pruned = t[t["status"] == "pruned"]
    assert len(pruned) >= 1 and (pruned["epochs_run"] < 3).all()
    e = load(tmp_path / "p").epochs
    for tid, row in pruned.iterrows():
        assert e[(e["trial_id"] == tid) & (e["split"] == "train") & (e["metric"] == "loss")]["epoch"].max() \
            == row["epochs_run"]
    assert any(c.state == "pruned" for c in out.configs)
    # a pruned configuration is told PRUNED with its per-epoch means, so a resume replays it
    again = run_search(s, tmp_path / "p")
    assert again.n_trained == 0 and asked(again) == asked(out)


def test_random_search_respects_distributions():
    optuna = pytest.importorskip("optuna")
    axes = (Axis("lr", "loguniform", 1e-4, 1e-1, log=True), Axis("u", "int", 16, 1024, log=True),
            Axis("d", "uniform", 0.0, 0.5))
    dists = {a.path: distribution(a) for a in axes}
    study = optuna.create_study(sampler=sampler("random", 0, 0))
    draws = [study.ask(dists).params for _ in range(400)]
    lr = np.array([d["lr"] for d in draws])
    units = [d["u"] for d in draws]
    d = np.array([d["d"] for d in draws])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    assert 0.3 < np.mean(lr < 10 ** -2.5) < 0.7  # log-uniform: half below the geometric middle
    assert all(isinstance(u, int) and 16 <= u <= 1024 for u in units)
    assert 0.3 < np.mean(np.array(units) < 128) < 0.7  # int log: half below sqrt(16 * 1024) = 128
    assert d.min() >= 0 and d.max() <= 0.5 and 0.3 < np.mean(d < 0.25) < 0.7


def test_search_report_has_its_sections(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report

    run_search(make(strategy="random", n_trials=4, batch=4), tmp_path / "r")
    rep = build_report(RunData.from_run(tmp_path / "r"))
    keys = [s.key for s in rep.sections]
    for key in ("best", "top", "search_history", "importance", "slices"):
        assert key in keys
    assert "tables" not in keys and "heatmap" not in keys and "curves" not in keys
    imp = next(s for s in rep.sections if s.key == "importance").items[0].data
    assert set(imp["parameter"]) == {"train.learning_rate", "model.mlp.dropout"}
    assert math.isclose(imp["importance"].sum(), 1.0, rel_tol=1e-6)


def test_a_grid_run_has_no_search_sections(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.engine.run import run_study
    from sweeplab.report.build import build_report

    text = STUDY.format(strategy="grid", n_trials=1, batch="", epochs=1, extra="", extra_sweep="")
    text = text.replace('{ loguniform = [1e-4, 1e-1] }', '[0.01, 0.001]').replace('{ uniform = [0.0, 0.5] }', '[0.0]')
    s = study_from_text(text.replace("repeats = 2", "repeats = 1"), "grid.toml")
    run_study(s, tmp_path / "g")
    keys = [x.key for x in build_report(RunData.from_run(tmp_path / "g")).sections]
    assert "search_history" not in keys and "contour" not in keys and "tables" in keys


def test_a_version_2_store_is_migrated_and_accepts_pruned(tmp_path):
    from sweeplab.records import PRUNED
    from sweeplab.store import SCHEMA_VERSION, Store
    from sweeplab.store.testing import make_record, make_result

    with Store(tmp_path) as st:
        st.register([make_record("a"), make_record("b")])
        st.commit_group([make_result("a")])
    conn = sqlite3.connect(tmp_path / "results.sqlite")  # rewind to the version-2 CHECK
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='trials'").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("UPDATE sqlite_master SET sql=? WHERE name='trials'", (sql.replace(", 'pruned'", ""),))
    conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE trials SET status='pruned' WHERE trial_id='b'")
    conn.close()
    assert list(load(tmp_path).trials["trial_id"]) == ["a", "b"]  # read as is
    result = make_result("b")
    result.status = PRUNED
    with Store(tmp_path) as st:
        st.commit_group([result])
        assert st.finished_ids() == {"a", "b"}
    t = load(tmp_path).trials
    assert list(t["trial_id"]) == ["a", "b"] and list(t["status"]) == ["finished", "pruned"]
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_config_result_is_plain_data():
    c = ConfigResult(0, {"a": 1}, ("t",), "complete", 0.5, (0.4, 0.5))
    assert c.value == 0.5


def test_sweeplab_run_runs_a_search_study_and_check_prints_its_plan(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sweeplab.cli import app

    monkeypatch.chdir(tmp_path)
    text = STUDY.format(strategy="random", n_trials=2, batch="batch = 2", epochs=1, extra="", extra_sweep="")
    (tmp_path / "s.toml").write_text(text)
    checked = CliRunner().invoke(app, ["check", "s.toml"])
    assert checked.exit_code == 0 and "search: random, 2 configuration(s) x 2 trial(s)" in " ".join(
        checked.stdout.split())
    ran = CliRunner().invoke(app, ["run", "s.toml", "--out", "r", "--no-report"])
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    t = load(tmp_path / "r").trials
    assert len(t) == 4 and set(t["status"]) == {"finished"} and t["config_id"].nunique() == 2


def test_search_report_has_a_contour_of_the_two_most_important_parameters(tmp_path):
    from sweeplab.analysis.rundata import RunData
    from sweeplab.report.build import build_report
    from sweeplab.report.build_search import importances

    sweep = '"model.mlp.activation" = ["relu", "tanh"]'  # a third parameter, a choice (per trial)
    run_search(make(strategy="random", n_trials=8, batch=8, extra_sweep=sweep), tmp_path / "r")
    rd = RunData.from_run(tmp_path / "r")
    rep = build_report(rd)
    contour = next(s for s in rep.sections if s.key == "contour")
    top2 = list(importances(rd, rd.selection.metric))[:2]
    assert len(top2) == 2
    fig = contour.items[0].figure
    ax = fig.axes[0]
    labels = [ax.get_xlabel(), ax.get_ylabel()]
    assert [x.removesuffix(" (log10)") for x in labels] == top2
    for p, label in zip(top2, labels):
        assert label.endswith(" (log10)") == (p == "train.learning_rate")
    assert ax.collections, "no filled contours"  # tricontourf draws collections
    assert top2[0] in contour.items[0].caption and top2[1] in contour.items[0].caption
    assert "filled contours" in contour.items[0].caption


def test_cmaes_same_seed_same_configurations_resumes_and_learns_after_its_random_start(tmp_path):
    pytest.importorskip("cmaes")
    s = make(strategy="cmaes", n_trials=8, batch=4)
    a = run_search(s, tmp_path / "a")
    b = run_search(s, tmp_path / "b")
    assert asked(a) == asked(b) and len({json.dumps(c) for c in asked(a)}) == 8
    assert asked(run_search(make(strategy="cmaes", n_trials=8, batch=4, extra="seed = 99"), tmp_path / "c")) \
        != asked(a)
    # round 1 is CMA-ES's random start (its independent sampler: the random strategy's draws);
    # round 2 samples from the distribution CMA-ES fitted to round 1's values
    rand = run_search(make(strategy="random", n_trials=8, batch=4), tmp_path / "rand")
    assert asked(a)[:4] == asked(rand)[:4] and asked(a)[4:] != asked(rand)[4:]
    run_search(s, tmp_path / "cut", stop_after_rounds=1)
    rest = run_search(s, tmp_path / "cut")  # resumed: the sampler's state rebuilt from the store
    assert asked(rest) == asked(a) and rest.n_trained == 8


def test_the_contour_places_a_choice_of_lists_at_its_positions():
    import pandas as pd

    from sweeplab.report.build_search import _plane

    a = Axis("model.mlp.hidden", "choice", choices=([4], [8], [8, 8]))
    c = pd.DataFrame({"model.mlp.hidden": [(8,), (4,), (8, 8), (8,)]})  # as the store gives them back
    x, labels = _plane(c, a)
    assert list(x) == [1, 0, 2, 1] and labels == ["[4]", "[8]", "[8, 8]"]
    x, labels = _plane(pd.DataFrame({"lr": [1e-3, 1e-1]}), Axis("lr", "loguniform", 1e-4, 1.0, log=True))
    assert np.allclose(x, [-3, -1]) and labels is None
