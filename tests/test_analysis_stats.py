"""Statistics over seeds and per-axis tables, against numpy/scipy on a real store."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sst

from sweeplab.analysis import stats, tables
from sweeplab.notebook import RunAnalysis
from sweeplab.analysis.rundata import RunData
from test_analysis_fixtures import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d, truth = make_run(tmp_path_factory.mktemp("run"), sweep={"train.batch_size": [32, 64, "full"]}, repeats=4)
    return RunData.from_run(d), truth


def _values(truth, value, metric="accuracy"):
    return np.array([t["test"][metric] for t in truth.values() if t["overrides"]["train.batch_size"] == value])


def test_axis_table_mean_std_n_match_numpy(run):
    rd, truth = run
    t = tables.axis_table(rd.trials, "train.batch_size", sort_by="test_accuracy")
    assert tables.axis_table(rd.trials, "train.batch_size").attrs["sort_by"] == "val_accuracy"  # ranked on validation
    assert list(t["train.batch_size"]) == [32, 64, "full"]  # best first (fixture makes 32 best)
    assert list(t["best"]) == [True, False, False]
    for _, row in t.iterrows():
        v = _values(truth, row["train.batch_size"])
        assert row["test_accuracy"] == pytest.approx(v.mean())
        assert row["test_accuracy_std"] == pytest.approx(v.std(ddof=1))
        assert row["test_accuracy_n"] == 4
    assert {"time_per_epoch", "n_params", "train_loss", "val_accuracy"} <= set(t.columns)


def test_axis_table_sorted_ascending_for_a_loss(run):
    rd, truth = run
    t = tables.axis_table(rd.trials, "train.batch_size", sort_by="test_loss")
    means = [_values(truth, v, "loss").mean() for v in t["train.batch_size"]]
    assert means == sorted(means)


def test_welch_comparison_matches_scipy(run):
    rd, truth = run
    cmp = stats.compare_with_best(rd.trials, "train.batch_size", "test_accuracy")
    assert cmp["best"].iloc[0] and cmp["train.batch_size"].iloc[0] == 32
    best = _values(truth, 32)
    for _, row in cmp.iloc[1:].iterrows():
        other = _values(truth, row["train.batch_size"])
        ref = sst.ttest_ind(other, best, equal_var=False)
        assert row["t"] == pytest.approx(ref.statistic)
        assert row["p"] == pytest.approx(ref.pvalue)
        assert row["distinguishable"] == (ref.pvalue < 0.05)


def test_indistinguishable_configurations_are_marked():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "cfg": ["a"] * 5 + ["b"] * 5 + ["c"] * 5,
        "acc": np.r_[0.90 + rng.normal(0, 0.02, 5), 0.899 + rng.normal(0, 0.02, 5), 0.5 + rng.normal(0, 0.02, 5)],
    })
    cmp = stats.compare_with_best(frame, "cfg", "acc").set_index("cfg")
    best = cmp.index[cmp["best"]][0]
    other_close = ({"a", "b"} - {best}).pop()
    assert cmp.loc[other_close, "distinguishable"] is False or cmp.loc[other_close, "distinguishable"] == False  # noqa: E712
    assert cmp.loc["c", "distinguishable"] == True  # noqa: E712


def test_one_seed_means_no_comparison(tmp_path):
    d, _ = make_run(tmp_path, repeats=1)
    rd = RunData.from_run(d)
    assert not stats.comparison_possible(rd.trials, "config_id")
    cmp = stats.compare_with_best(rd.trials, "config_id", "test_accuracy")
    assert cmp["p"].isna().all() and cmp["distinguishable"].iloc[1:].isna().all()
    from sweeplab.report.build_study import comparison

    text = comparison(rd, "test_accuracy", 10).items[0].text
    assert "no statistical comparison is possible" in text


def test_best_sentence_states_configuration_and_numbers(run):
    rd, truth = run
    s = tables.best_sentence(rd.trials, rd.axes)
    v = _values(truth, 32)
    assert "train.batch_size = 32" in s
    assert f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" in s and "4 seeds" in s


def test_heatmap_grid_is_mean_over_seeds(tmp_path):
    d, truth = make_run(tmp_path, sweep={"a": [1, 2], "b": ["x", "y", "z"]}, repeats=2)
    rd = RunData.from_run(d)
    g = tables.heatmap_grid(rd.trials, "a", "b", "test_accuracy")
    assert g.shape == (2, 3) and list(g.columns) == ["x", "y", "z"]
    v = [t["test"]["accuracy"] for t in truth.values() if t["overrides"] == {"a": 2, "b": "y"}]
    assert g.loc[2, "y"] == pytest.approx(np.mean(v))


def test_notebook_api_returns_frames_and_figures(run):
    from matplotlib.figure import Figure

    rd, _ = run
    ra = RunAnalysis(rd)
    assert isinstance(ra.table("train.batch_size"), pd.DataFrame)
    assert "★" in ra.table("train.batch_size", formatted=True).iloc[0, 0]
    assert len(ra.table(top_n=2)) == 2
    assert isinstance(ra.plot.learning_curves(), Figure)
    assert isinstance(ra.plot.effect(), Figure)
    assert isinstance(ra.plot.confusion(), Figure)
    assert ra.confusion().to_numpy().sum() == 200
    with pytest.raises(KeyError, match="not a sweep axis"):
        ra.table("train.nope")


def test_welch_p_values_equal_scipy_over_many_samples():
    rng = np.random.default_rng(0)
    for _ in range(500):
        na, nb = rng.integers(2, 12, 2)
        a = rng.normal(0, rng.uniform(0.001, 2), na)
        b = rng.normal(rng.normal(0, 1), rng.uniform(0.001, 2), nb)
        t, p = stats.welch(a, b)
        ref = sst.ttest_ind(a, b, equal_var=False)
        assert t == pytest.approx(ref.statistic, rel=1e-9)
        assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    for df in (1.0, 2.5, 10.0, 1e4):
        for t in (0.0, 0.5, 3.0, 40.0):
            assert stats.student_t_two_sided(t, df) == pytest.approx(2 * sst.t.sf(t, df), rel=1e-9, abs=1e-300)
