"""Results a user can trust: the right best trial, chosen on validation data,
honest statistics, time shares and parameter counts.

Each test here failed on the code before the trust work (commit 55c9d11):
list-valued sweep values were compared as strings and a failed match fell
back to the first trial; configurations were ranked on the test set; p-values
were uncorrected verdicts even with two seeds; time per epoch was the whole
group's; parameters were averaged.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

import sweeplab
from sweeplab import values as V
from sweeplab.analysis import stats, tables
from sweeplab.analysis.rundata import RunData
from sweeplab.report import write_report
from sweeplab.store import FINISHED, Store, TrialRecord, TrialResult


def _id(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def write_store(run_dir, configs, *, repeats=3, name="trust", data=None, n_params=None, groups=None,
                test_f1=None, seconds=0.3):
    """A real store: ``configs`` maps a tuple of axis values -> (val_acc, test_acc)
    for the axes ``("model.mlp.activation", "model.mlp.hidden")``.

    ``groups`` maps a config to a group label (trials committed together);
    ``n_params`` maps a config to its parameter count.
    """
    axes = ["model.mlp.activation", "model.mlp.hidden"]
    data = data or {"dataset": "digits", "validation_split": 0.2}
    spec = {"study": {"name": name, "seed": 0, "repeats": repeats}, "data": data,
            "model": {"mlp": {"hidden": [64]}}, "train": {"metrics": ["accuracy", "f1"], "epochs": 2},
            "sweep": {a: sorted({json.dumps(c[i]) for c in configs}) for i, a in enumerate(axes)}, "report": {}}
    rng = np.random.default_rng(0)
    records, by_group = [], {}
    for cfg, (val, test) in configs.items():
        overrides = dict(zip(axes, [list(v) if isinstance(v, tuple) else v for v in cfg]))
        cid = _id(overrides)
        for rep in range(repeats):
            tid = _id(overrides, rep)
            records.append(TrialRecord(tid, {"data": data}, overrides, cid, rep, rep, None, ""))
            noise = rng.normal(0, 0.002)
            hist = {("train", "loss"): [1.0, 0.5], ("train", "accuracy"): [0.5, 0.9],
                    ("val", "loss"): [1.1, 0.6], ("val", "accuracy"): [0.5, val + noise]}
            test_m = {"accuracy": test + noise, "loss": 1 - test, "f1": (test_f1 or {}).get(cfg, test)}
            final = {f"{s}_{m}": v[-1] for (s, m), v in hist.items()}
            y = rng.integers(0, 10, 50)
            preds = {"y_true/output": y, "y_pred/output": y, "proba/output": np.eye(10)[y]}
            res = TrialResult(tid, FINISHED, 2, hist, test=test_m, final=final, confusion={},
                              epoch_seconds=[seconds, seconds], n_params=(n_params or {}).get(cfg, 100),
                              params={"dense/kernel": np.zeros((2, 2), np.float32)}, predictions=preds)
            by_group.setdefault((groups or {}).get(cfg, cfg), []).append(res)
    with Store(run_dir) as store:
        store.set_study(name, "# trust", spec)
        store.register(records)
        for results in by_group.values():
            store.commit_group(results)
    return run_dir


# Validation prefers (tanh, [64]); test would prefer (relu, [16]), the grid's first configuration.
CONFIGS = {
    ("relu", (16,)): (0.90, 0.99),
    ("relu", (64,)): (0.92, 0.95),
    ("tanh", (16,)): (0.91, 0.94),
    ("tanh", (64,)): (0.97, 0.96),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("trust") / "run", CONFIGS)


def test_canonical_values_compare_sort_and_print_like_the_study_file():
    assert V.canonical([64]) == V.canonical((64,)) == (64,) == V.canonical([64.0])
    assert hash(V.canonical([64])) == hash(V.canonical((64,)))
    assert V.label((300, 100)) == "[300, 100]" and V.label([64]) == "[64]"
    assert V.sort_values([(256,), [64], (16,), [300, 100]]) == [(16,), (64,), (256,), (300, 100)]
    frame = pd.DataFrame({"hidden": [V.canonical([64]), V.canonical((64,)), V.canonical([16])]})
    assert "[64]" in frame.to_string() and "(64,)" not in frame.to_string()  # pandas prints the label
    assert frame["hidden"].nunique() == 2
    assert V.sort_values(["full", 1024, 32, 64]) == [32, 64, 1024, "full"]
    assert V.to_plain(V.canonical({"units": [3]})) == {"units": [3]}


def test_best_trial_belongs_to_the_best_configuration_with_a_list_axis(run_dir):
    run = sweeplab.load(run_dir)
    assert run.best_params == {"model.mlp.activation": "tanh", "model.mlp.hidden": [64]}
    best = run.data.trials.loc[run.best_trials]
    assert len(best) == 3 and set(best["model.mlp.activation"]) == {"tanh"}
    assert all(V.same(v, [64]) for v in best["model.mlp.hidden"])
    assert run.data.representative_trial() == run.best_trials[0]
    # confusion/scores/misclassified default to the same (best) trial
    assert run._trial(None) == run.best_trials[0]
    assert run.best_config == run.data.config(run.best_trials[0])


def test_a_failed_lookup_is_an_error_not_the_first_trial(run_dir):
    rd = RunData.from_run(run_dir)
    with pytest.raises(LookupError):
        rd.trials_of({"model.mlp.activation": "tanh", "model.mlp.hidden": [128]})
    assert len(rd.trials_of({"model.mlp.activation": "tanh", "model.mlp.hidden": (64,)})) == 3


def test_configurations_are_ranked_on_validation_and_report_test_beside(run_dir):
    rd = RunData.from_run(run_dir)
    sel = rd.selection
    assert (sel.metric, sel.report, sel.split) == ("val_accuracy", "test_accuracy", "validation")
    table = rd.config_table()
    assert V.label(table["model.mlp.hidden"].iloc[0]) == "[64]" and table["model.mlp.activation"].iloc[0] == "tanh"
    text = sweeplab.load(run_dir).best()
    assert "by validation accuracy" in text and "tanh" in text and "[64]" in text and "test accuracy" in text


def test_report_best_trial_section_matches_the_headline(run_dir):
    write_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "The best configuration by validation accuracy is model.mlp.activation = tanh, model.mlp.hidden = \\[64\\]" in md \
        or "The best configuration by validation accuracy is model.mlp.activation = tanh, model.mlp.hidden = [64]" in md
    trial = md[md.index("best configuration by validation accuracy, first seed"):]
    assert "model.mlp.activation = tanh" in trial and "(16,)" not in md and "(64,)" not in md


def test_select_by_overrides_and_a_study_without_validation_ranks_on_test_and_says_so(tmp_path):
    rd = RunData.from_run(write_store(tmp_path / "noval", CONFIGS))
    rd.trials = rd.trials.drop(columns=[c for c in rd.trials.columns if c.startswith("val_")])
    sel = rd.selection
    assert sel.metric == "test_accuracy" and "no validation data" in sel.note
    sel2 = tables.selection(RunData.from_run(tmp_path / "noval").trials, select_by="test_accuracy")
    assert sel2.metric == "test_accuracy" and "select_by" in sel2.note
    with pytest.raises(ValueError, match="select_by"):
        tables.selection(rd.trials, select_by="val_nonsense")


def test_holm_correction_and_little_power_with_two_seeds():
    p = [0.01, 0.04, 0.03]
    np.testing.assert_allclose(stats.holm(p), [0.03, 0.06, 0.06])
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"cfg": ["a"] * 2 + ["b"] * 2, "m": [0.9, 0.91, 0.5, 0.51]})
    cmp = stats.compare_with_best(frame, "cfg", "m")
    assert cmp["low_power"].iloc[1] and cmp["distinguishable"].iloc[1] is None  # n=2: no verdict
    frame = pd.DataFrame({"cfg": ["a"] * 5 + ["b"] * 5 + ["c"] * 5,
                          "m": np.r_[rng.normal(0.9, 0.01, 5), rng.normal(0.8, 0.01, 5), rng.normal(0.895, 0.01, 5)]})
    cmp = stats.compare_with_best(frame, "cfg", "m")
    assert np.allclose(cmp["p_holm"].iloc[1:].to_numpy(), stats.holm(cmp["p"].iloc[1:].to_numpy()))
    assert cmp.attrs["correction"] == "holm"


def test_time_is_the_trials_share_of_its_group_and_parameters_are_counts(tmp_path):
    # relu configs train in a group of 6 trials, tanh configs in groups of 3; same group wall time
    groups = {("relu", (16,)): "g1", ("relu", (64,)): "g1"}
    params = {("relu", (16,)): 1210, ("relu", (64,)): 4810, ("tanh", (16,)): 1210, ("tanh", (64,)): 4810}
    d = write_store(tmp_path / "run", CONFIGS, groups=groups, n_params=params, seconds=0.6)
    rd = RunData.from_run(d)
    t = rd.trials
    relu = t[t["model.mlp.activation"] == "relu"]["time_per_epoch"]
    tanh = t[t["model.mlp.activation"] == "tanh"]["time_per_epoch"]
    assert np.allclose(relu, 0.1) and np.allclose(tanh, 0.2)
    assert np.allclose(t["group_seconds_per_epoch"], 0.6)
    shown = tables.format_table(tables.config_table(t, rd.axes))
    assert set(shown["parameters"]) == {"1,210", "4,810"}
    per_axis = tables.format_table(tables.axis_table(t, "model.mlp.activation"))
    assert set(per_axis["parameters"]) == {"1,210–4,810"}
    for frame in (shown, per_axis):
        assert not frame.apply(lambda c: c.astype(str).str.contains("<NA>|nan|± –")).any().any()


def test_default_tables_fit_and_flag_degenerate_classifiers(tmp_path):
    d = write_store(tmp_path / "run", CONFIGS, test_f1={("relu", (16,)): 0.0})
    rd = RunData.from_run(d)
    table = rd.config_table()
    shown = tables.format_table(table, columns=tables.display_columns(table, rd.selection))
    assert len(shown.columns) <= 8
    assert list(shown.columns[3:5]) == ["val accuracy", "test accuracy"]
    flagged = shown[shown[""].str.contains("⚠")]
    assert len(flagged) == 1 and flagged["model.mlp.activation"].iloc[0] == "relu"
    write_report(d)
    assert "predicts a single class" in (d / "report.md").read_text()


def test_axis_table_band_is_the_seed_spread_not_the_other_axes(run_dir):
    rd = RunData.from_run(run_dir)
    t = tables.axis_table(rd.trials, "model.mlp.activation", sort_by="val_accuracy")
    # val accuracy differs by 0.02-0.06 between widths, but seeds differ by ~0.002
    assert (t["val_accuracy_std"] < 0.01).all() and (t["val_accuracy_sd_all"] > 0.01).all()


def test_notebook_names_match_the_cli(run_dir):
    run = sweeplab.load(run_dir)
    assert run.table("hidden").equals(run.table("model.mlp.hidden"))
    with pytest.raises(KeyError, match="axes"):
        run.table("nonsense")
    hist = run.history(run.best_trials[0])
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(hist.columns)
    fig = run.plot.pr_curve()  # 10 classes: one-vs-rest curves, no IndexError
    assert len(fig.axes[0].lines) == 10


def test_end_to_end_list_axis_with_validation_split(tmp_path):
    """A real study (digits, list-valued width axis, validation split): the best
    configuration by validation = ``run.best_params`` = the report's best-trial section."""
    study = tmp_path / "widths.toml"
    study.write_text("""
[study]
name = "widths"
repeats = 2
[data]
dataset = "digits"
validation_split = 0.25
[model]
mlp = { hidden = [8], activation = "relu" }
[train]
optimizer = "adam"
learning_rate = 0.003
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
epochs = 3
[sweep]
"model.mlp.hidden" = [[4], [32, 16], [8]]
""")
    out = tmp_path / "run"
    sweeplab.run(str(study), out)
    write_report(out)
    run = sweeplab.load(out)
    table = run.table()
    assert table.attrs["sort_by"] == "val_accuracy"
    best_value = table["model.mlp.hidden"].iloc[0]
    assert run.best_params == {"model.mlp.hidden": V.to_plain(best_value)}
    means = run.data.trials.groupby(run.data.trials["model.mlp.hidden"].map(V.label))["val_accuracy"].mean()
    assert means.idxmax() == V.label(best_value)
    md = (out / "report.md").read_text()
    section = md[md.index("(best configuration by validation accuracy, first seed)"):]
    shown = V.label(best_value).replace("[", "\\[").replace("]", "\\]")
    assert f"model.mlp.hidden = {shown}" in section.split("\n\n")[1]
    assert run.data.trials.loc[run.best_trials[0], "seed"] == run.data.trials["seed"].min()


def test_report_names_damaged_trials_instead_of_dropping_sections(tmp_path):
    d = write_store(tmp_path / "run", CONFIGS)
    rd = RunData.from_run(d)
    victim = rd.best_trials()[0]
    (d / "trials" / victim / "predictions.npz").write_bytes(b"not an npz")
    write_report(d)
    md = (d / "report.md").read_text()
    assert "## Damaged trials" in md and victim in md
