"""One "is lower better" rule: the direction declared on each metric's registry entry.

For every registered metric (each name and alias, with and without a head and a
split), the CLI's results table (``sweeplab show``), the report's ranking and its
t-test against the best, and early stopping's ``mode="auto"`` agree with the entry.
Heads are named to trip the keyword rules of old (``f1x_loss`` is a loss,
``msec_accuracy`` a score).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sweeplab.analysis import stats, tables
from sweeplab.engine.trainer import _mode
from sweeplab.store import FINISHED, Store, TrialRecord, TrialResult
from sweeplab.vocab.metrics import METRICS, direction
from sweeplab.vocab.registry import UnknownNameError

HEADS = ("", "hour_", "f1x_", "msec_", "accuracy_")


def _names():
    """(recorded name without split, declared direction) for every metric and the loss."""
    out = [("loss", "min")]
    for entry in METRICS:
        assert entry.meta["direction"] in ("max", "min"), entry.name
        out += [(n, entry.meta["direction"]) for n in (entry.name, *entry.aliases)]
    return [(head + n, d) for head in HEADS for n, d in out]


NAMES = _names()


def test_every_metric_declares_its_direction():
    declared = {e.name: e.meta["direction"] for e in METRICS}
    assert declared == {"accuracy": "max", "precision": "max", "recall": "max", "f1": "max",
                        "mae": "min", "mse": "min"}


@pytest.mark.parametrize("name, expected", NAMES)
def test_early_stopping_agrees(name, expected):
    for monitor in (name, f"val_{name}"):
        assert _mode(SimpleNamespace(mode="auto", monitor=monitor)) == expected, monitor
        assert direction(monitor) == expected


@pytest.mark.parametrize("name, expected", NAMES)
def test_report_ranking_agrees(name, expected):
    col = f"test_{name}"
    trials = pd.DataFrame({
        "config_id": ["low"] * 3 + ["high"] * 3,
        "x": [1] * 3 + [2] * 3,
        col: [0.1, 0.11, 0.12, 0.9, 0.91, 0.92],
        "status": [FINISHED] * 6,
    })
    best = "low" if expected == "min" else "high"
    assert tables.config_table(trials, ["x"], [col], sort_by=col)["config_id"].iloc[0] == best
    assert tables.axis_table(trials, "x", [col], sort_by=col)["x"].iloc[0] == (1 if best == "low" else 2)
    compared = stats.compare_with_best(trials, "config_id", col)
    assert compared.loc[compared["best"], "config_id"].item() == best


def test_unknown_metric_is_named():
    with pytest.raises(UnknownNameError, match="unknown metric 'test_speed'; accepted: loss, accuracy"):
        direction("test_speed")


def _store(run_dir, names):
    recs, results = [], []
    for cfg, value in (("low", 0.1), ("high", 0.9)):
        for seed in range(2):
            tid = f"{cfg}{seed}"
            recs.append(TrialRecord(tid, {"train": {"epochs": 1}}, {"x": cfg}, cfg, seed, seed, None, "g"))
            results.append(TrialResult(
                trial_id=tid, status=FINISHED, epochs_run=1, history={("train", "loss"): [value]},
                test={n: value + 0.01 * seed for n in names}, final={}, confusion={}, epoch_seconds=[0.1],
                compile_seconds=0.0, n_params=1))
    with Store(run_dir, lock=False) as store:
        store.register(recs)
        store.commit_group(results)


def test_cli_show_agrees(tmp_path):
    from sweeplab.cli import app

    names = sorted({n for n, _ in NAMES if "_" not in n or n.startswith(("hour_", "f1x_"))})
    _store(tmp_path, names)
    runner = CliRunner()
    for name in names:
        out = runner.invoke(app, ["show", str(tmp_path), "--sort", f"test_{name}"], env={"COLUMNS": "200"})
        assert out.exit_code == 0, out.output
        first = [line for line in out.output.splitlines() if line.strip().startswith(("low", "high"))][0]
        assert first.strip().startswith("low" if direction(name) == "min" else "high"), (name, out.output)
