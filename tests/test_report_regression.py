"""A regression head (clocks minute) gets a predicted-vs-true figure and an error table in the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

import sweeplab
from sweeplab.report import write_report
from sweeplab.spec.expand import study_from_text

STUDY = """
[study]
name = "clocks-regression-report"
[data]
dataset = "clocks"
params = { size = 24, n_images = 300 }
task = { type = "multihead", target_scale = 0.016666666666666666 }
validation_split = 0.2
[model]
mlp = { hidden = [16] }
heads = [{ name = "hour" }, { name = "minute", loss = "mse", metrics = ["mae"] }]
[train]
optimizer = "adam"
epochs = 2
"""


def test_regression_head_report(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPLAB_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    sweeplab.run(study_from_text(STUDY), out)
    run = sweeplab.load(out)
    tid = run.trials["trial_id"].iloc[0]
    pred = run.predictions(tid)
    assert "proba/minute" not in pred and pred["y_pred/minute"].dtype == np.float32
    assert pred["proba/hour"].shape[1] == 12
    assert pred["y_true/minute"].max() < 1.0  # minutes / 60
    write_report(out)
    assert (out / "figures" / "regression_minute.png").is_file()
    assert not (out / "figures" / "confusion_minute.png").exists()
    table = pd.read_csv(out / "tables" / "regression_minute.csv")
    mae = float(table.loc[table["measure"] == "MAE", "value"].iloc[0])
    assert abs(mae - np.mean(np.abs(pred["y_pred/minute"] - pred["y_true/minute"]))) < 1e-6
    # and it is the engine's own test metric
    assert abs(mae - run.trials["test_minute_mae"].iloc[0]) < 1e-5
