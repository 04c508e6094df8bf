"""The verdict rule (published vs our seeds) and the side-by-side table of a real tiny run."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import sweeplab
from sweeplab.reproduce import compare, load_published, markdown_table, verdict
from sweeplab.reproduce.published import parse_published
from sweeplab.reproduce.verdict import AGREES, DIFFERS, NOT_COMPARABLE
from sweeplab.spec.source import BUILTIN_DIR


# ---------------------------------------------------------------- verdict()

def test_inside_two_std_agrees():
    v = verdict(0.9971, [0.9968, 0.9972, 0.9975])
    assert v.kind == AGREES and not v.weak and v.n == 3
    assert v.mean == pytest.approx(np.mean([0.9968, 0.9972, 0.9975]))
    assert v.std == pytest.approx(np.std([0.9968, 0.9972, 0.9975], ddof=1))


def test_outside_differs_with_signed_gap_in_std():
    v = verdict(0.99, [0.95, 0.96, 0.97])
    assert v.kind == DIFFERS
    assert v.gap == pytest.approx(0.03) and v.gap_std == pytest.approx(3.0)
    below = verdict(0.93, [0.95, 0.96, 0.97])
    assert below.kind == DIFFERS and below.gap_std == pytest.approx(-3.0)
    assert str(below) == "differs (-3.0 std)"


def test_edge_of_the_interval_and_rounding():
    ours = [0.95, 0.96, 0.97]  # mean 0.96, std 0.01
    assert verdict(0.98, ours).kind == AGREES  # exactly mean + 2 std
    assert verdict(0.9801, ours).kind == DIFFERS
    assert verdict(0.9801, ours, resolution=0.0001).kind == AGREES  # the printed number's rounding
    same = [0.997, 0.997, 0.997]  # no spread: only the rounding of "99.70"
    assert verdict(0.99705, same, resolution=0.00005).kind == AGREES
    d = verdict(0.9972, same, resolution=0.00005)
    assert d.kind == DIFFERS and d.gap_std is None and d.gap == pytest.approx(0.0002)
    assert str(d) == "differs (gap +0.0002)"


def test_few_seeds_are_weak():
    one = verdict(0.5, [0.5])
    assert one.kind == AGREES and one.weak and one.std is None and "one seed" in one.reason
    assert str(one) == "agrees, weak (n = 1)"
    assert verdict(0.5, [0.4]).kind == DIFFERS
    two = verdict(0.5, [0.49, 0.51])
    assert two.weak and "only 2 seeds" in two.reason
    assert not verdict(0.5, [0.49, 0.5, 0.51]).weak


def test_not_finite_values_are_left_out_or_not_comparable():
    v = verdict(0.91, [math.nan, 0.90, 0.91, 0.92])
    assert v.kind == AGREES and v.n == 3 and "1 non-finite" in v.reason
    assert verdict(0.9, []).kind == NOT_COMPARABLE
    nan = verdict(0.9, [math.nan, math.inf])
    assert nan.kind == NOT_COMPARABLE and "not finite" in nan.reason


def test_bounds():
    four_min = 4 / 60  # seed 004: "the minute mae did not go under the 4 minute threshold"
    assert verdict(four_min, [0.050, 0.051, 0.052], relation=">=").kind == DIFFERS  # we reach ~3 minutes
    assert verdict(four_min, [0.066, 0.070, 0.074], relation=">=").kind == AGREES
    assert verdict(0.93, [0.95, 0.96, 0.97], relation=">").kind == AGREES  # "> 93 %"
    assert verdict(0.98, [0.95, 0.96, 0.97], relation=">=").kind == AGREES  # the interval reaches 0.98
    assert verdict(0.98, [0.95, 0.96, 0.97], relation=">").kind == DIFFERS  # ... but not above it
    assert verdict(0.995, [0.95, 0.96, 0.97], relation=">").kind == DIFFERS
    assert verdict(0.50, [0.40, 0.45, 0.50], relation="<").kind == AGREES
    assert verdict(0.30, [0.40, 0.45, 0.50], relation="<").kind == DIFFERS
    with pytest.raises(ValueError, match="relation"):
        verdict(0.5, [0.5], relation="==")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=8),
       st.floats(-12, 12, allow_nan=False), st.floats(0, 0.5))
def test_equals_the_numpy_rule(ours, published, resolution):
    """Oracle: agrees iff |published - mean| <= 2 std (ddof = 1) + resolution, by numpy."""
    mean, std = np.mean(ours), np.std(ours, ddof=1)
    margin = abs(abs(published - mean) - (2 * std + resolution))
    if margin < 1e-9:
        return  # on the edge: float rounding decides
    expected = AGREES if abs(published - mean) <= 2 * std + resolution else DIFFERS
    assert verdict(published, ours, resolution=resolution).kind == expected


# ---------------------------------------------------------------- a real tiny run

TINY_EPOCHS = 3


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """seed002-initializers (synthetic data: no download) at 400 points, 3 epochs, 2 seeds."""
    text = (BUILTIN_DIR / "seed002-initializers.toml").read_text()
    text = (text.replace("repeats = 3", "repeats = 2").replace("epochs = 100", f"epochs = {TINY_EPOCHS}")
            .replace("n_samples = 4000", "n_samples = 400"))
    folder = tmp_path_factory.mktemp("tiny")
    study = folder / "seed002-initializers.toml"
    study.write_text(text)
    run_dir = folder / "run"
    sweeplab.run(str(study), run_dir)
    return run_dir


def _oracle(run_dir, setting_value, split, metric, how):
    """Per-seed values straight from the run's frames, without the matching code."""
    r = sweeplab.load(run_dir)
    t = r.trials
    t = t.reset_index() if "trial_id" not in t.columns else t
    tids = {tid: rep for tid, rep, v in zip(t["trial_id"], t["repeat"], t["model.mlp.kernel_initializer"])
            if v == setting_value}
    if how == "final":
        col = f"{split}_{metric}"
        return [float(t.loc[t["trial_id"] == tid, col].iloc[0]) for tid in sorted(tids, key=tids.get)]
    e = r.epochs
    out = []
    for tid in sorted(tids, key=tids.get):
        vals = e[(e.trial_id == tid) & (e.split == split) & (e.metric == metric)].sort_values("epoch")["value"].to_numpy()
        out.append(float(vals.min() if how == "min" else vals.max() if how == "max" else vals[how - 1]))
    return out


def test_published_table_iii_against_a_tiny_run(tiny_run):
    published = load_published("002")
    table = compare(published.rows, {"seed002-initializers": tiny_run})
    assert len(table) == len(published.rows)
    by_id = {c.row.id: c for c in table}
    for init in ("zeros", "ones", "random_uniform", "random_normal", "truncated_normal", "orthogonal"):
        acc, loss = by_id[f"T3-{init}-acc"], by_id[f"T3-{init}-loss"]
        assert acc.verdict.kind in (AGREES, DIFFERS) and acc.verdict.weak and acc.verdict.n == 2
        assert list(acc.values) == pytest.approx(_oracle(tiny_run, init, "val", "accuracy", "max"))
        assert list(loss.values) == pytest.approx(_oracle(tiny_run, init, "val", "loss", "min"))
        assert acc.ours.endswith("(n = 2)") and " %" in acc.ours and acc.published.endswith(" %")
    # rows of another study of the same report, and figure rows, are not comparable, with the reason
    assert by_id["T1-aug10-sigma1-acc"].verdict.kind == NOT_COMPARABLE
    assert by_id["T1-aug10-sigma1-acc"].verdict.reason == "study not run"
    assert by_id["fig3-samples"].verdict.kind == NOT_COMPARABLE
    assert "figure" in by_id["fig3-samples"].verdict.reason
    md = markdown_table(table)
    assert md.count("\n") == len(table) + 2 and "| T3-orthogonal-acc | Table III | kernel_initializer = orthogonal |" in md


def _rows(*rows):
    raw = {
        "report": {"seed": "002", "title": "t", "authors": "a", "date": "d", "source": "s", "framework": "f"},
        "experiments": {"seed002-initializers": {"stated": "s", "unstated": "u"}},
        "row": [{"ref": "r", "study": "seed002-initializers", "split": "s", "quote": "q", "comparable": True,
                 "unit": "fraction", "printed": "0.9", **row} for row in rows],
    }
    return parse_published(raw, "test.toml").rows


def test_final_epoch_difference_and_misses(tiny_run):
    rows = _rows(
        {"id": "final", "setting": {"model.mlp.kernel_initializer": "orthogonal"}, "metric": "test_accuracy"},
        {"id": "epoch2", "setting": {"model.mlp.kernel_initializer": "orthogonal"}, "metric": "val_loss", "at": 2,
         "unit": "plain"},
        {"id": "gap", "setting": {"model.mlp.kernel_initializer": "orthogonal"},
         "baseline": {"model.mlp.kernel_initializer": "zeros"}, "metric": "test_accuracy"},
        {"id": "absent value", "setting": {"model.mlp.kernel_initializer": "he_normal"}, "metric": "test_accuracy"},
        {"id": "several", "setting": {}, "metric": "test_accuracy"},
        {"id": "no metric", "setting": {"model.mlp.kernel_initializer": "zeros"}, "metric": "test_f1"},
        {"id": "late epoch", "setting": {"model.mlp.kernel_initializer": "zeros"}, "metric": "val_loss",
         "at": TINY_EPOCHS + 1},
        {"id": "no axis", "setting": {"train.batch_size": 32}, "metric": "test_accuracy"},
    )
    c = {x.row.id: x for x in compare(rows, {"seed002-initializers": str(tiny_run)})}
    ortho = _oracle(tiny_run, "orthogonal", "test", "accuracy", "final")
    assert list(c["final"].values) == pytest.approx(ortho)
    assert c["final"].verdict.mean == pytest.approx(np.mean(ortho))
    assert list(c["epoch2"].values) == pytest.approx(_oracle(tiny_run, "orthogonal", "val", "loss", 2))
    zeros = _oracle(tiny_run, "zeros", "test", "accuracy", "final")
    assert list(c["gap"].values) == pytest.approx([o - z for o, z in zip(ortho, zeros)])
    assert c["gap"].setting == "kernel_initializer = orthogonal minus kernel_initializer = zeros"
    reasons = {k: c[k].verdict.reason for k in ("absent value", "several", "no metric", "late epoch", "no axis")}
    assert all(c[k].verdict.kind == NOT_COMPARABLE for k in reasons)
    assert reasons["absent value"].startswith("no configuration of the run has kernel_initializer = he_normal")
    assert reasons["several"].startswith("6 configurations match")
    assert reasons["no metric"] == "the run records no 'test_f1'"
    assert reasons["late epoch"] == f"the run has no epoch {TINY_EPOCHS + 1} of 'val_loss'"
    assert reasons["no axis"] == "the run has no swept column 'train.batch_size'"


HAVE_MNIST = bool(os.environ.get("SWEEPLAB_DATA")) and (Path(os.environ.get("SWEEPLAB_DATA", "/")) / "mnist").is_dir()


@pytest.mark.skipif(not HAVE_MNIST, reason="needs a real MNIST copy (SWEEPLAB_DATA)")
def test_seed000_table_ii_on_a_tiny_mnist_run(tmp_path):
    """seed000-hidden-units at 600 images, 1 epoch, 2 seeds, widths 16 and 32: Table II rows match."""
    text = (BUILTIN_DIR / "seed000-hidden-units.toml").read_text()
    text = (text.replace("repeats = 3", "repeats = 2").replace("epochs = 100", "epochs = 1")
            .replace("validation_split = 0.4", "validation_split = 0.4\nsubsample = 600")
            .replace("[[16], [32], [64], [128]]", "[[16], [32]]"))
    study = tmp_path / "s.toml"
    study.write_text(text)
    sweeplab.run(str(study), tmp_path / "run")
    table = {c.row.id: c for c in compare(load_published("000").rows, {"seed000-hidden-units": tmp_path / "run"})}
    for w in (16, 32):
        assert table[f"T2-{w}-acc"].verdict.n == 2 and table[f"T2-{w}-acc"].verdict.kind in (AGREES, DIFFERS)
        assert table[f"T2-{w}-loss"].verdict.n == 2
    assert table["T2-64-acc"].verdict.reason.startswith("no configuration of the run has hidden = [64]")
    assert table["fig4-width-val-gap"].verdict.kind == NOT_COMPARABLE  # needs [128]
    assert table["T1-relu-acc"].verdict.reason == "study not run"
