"""A search with pruning, end to end: a study file run by ``sweeplab run`` on the built-in digits data,
then read back from the store and the report it wrote.

ASHA (rungs at epochs 1, 2, 4 of 6) and median pruning: pruned trials are stored ``pruned`` with the
epochs they ran (a rung epoch for ASHA, with a value below every trial of its group that went on),
the others run every epoch, and the results table and the report show the pruned trials as pruned
(listed or counted, not ranked).
"""

from __future__ import annotations

import re
import sqlite3

import pytest

pytest.importorskip("optuna")

from typer.testing import CliRunner  # noqa: E402

from sweeplab.cli import app  # noqa: E402

EPOCHS = 6
N_CONFIGS = 8
STUDY = f"""
[study]
name = "prune-e2e"
seed = 3

[data]
dataset = "digits"
validation_split = 0.3

[model]
mlp = {{ hidden = [16], activation = "relu" }}

[train]
optimizer = "adam"
loss = "sparse_categorical_crossentropy"
batch_size = 64
epochs = {EPOCHS}

[sweep]
"train.learning_rate" = {{ loguniform = [1e-5, 1e-1] }}
"model.mlp.dropout" = {{ uniform = [0.0, 0.5] }}

[search]
strategy = "random"
n_trials = {N_CONFIGS}
batch = 4
"""
PRUNERS = {
    "asha": 'pruner = "asha"\nmin_epochs = 1\nreduction_factor = 2\n',  # rungs 1, 2, 4
    "median": 'pruner = "median"\nmin_epochs = 1\nmin_trials = 2\n',
}
RUNGS = {1, 2, 4}


def run_cli(tmp_path, monkeypatch, pruner: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(STUDY + PRUNERS[pruner])
    result = CliRunner().invoke(app, ["run", "s.toml", "--out", "r"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "r" / "results.sqlite") as c:
        trials = c.execute('SELECT trial_id, status, epochs_run, "group" FROM trials').fetchall()
        val = {}
        for tid, epoch, value in c.execute("SELECT trial_id, epoch, value FROM epochs WHERE split = 'val' "
                                           "AND metric = 'accuracy' ORDER BY trial_id, epoch"):
            val.setdefault(tid, []).append(value)
    return trials, val, (tmp_path / "r" / "report.md").read_text(), result.output


def check_stored(trials, val):
    pruned = [t for t in trials if t[1] == "pruned"]
    finished = [t for t in trials if t[1] == "finished"]
    assert len(trials) == N_CONFIGS and len(pruned) + len(finished) == N_CONFIGS
    assert pruned and finished
    for tid, _, run, _ in pruned:
        assert 1 <= run < EPOCHS and len(val[tid]) == run  # its history ends where it stopped
    for tid, _, run, _ in finished:
        assert run == EPOCHS and len(val[tid]) == EPOCHS
    return pruned, finished


def check_summary(output: str, pruned) -> None:
    """The results table ``sweeplab run`` prints: each pruned configuration listed as pruned, not ranked."""
    assert len(re.findall(r"\spruned\s", output)) == len(pruned), output  # one seed: one trial per configuration


def check_report(report: str, pruned, finished):
    facts = re.search(r"\*\*pruned trials\*\*: (\d+), stopped after epoch ([\d, ]+);", report)
    assert facts, report[:2000]
    assert int(facts[1]) == len(pruned)
    assert {int(e) for e in facts[2].split(",")} == {t[2] for t in pruned}
    assert f"**trials**: {len(finished)} ({len(finished)} configurations)" in report
    assert f"{len(pruned)} of {N_CONFIGS} configurations were pruned" in report  # the optimisation history
    table = report.split("## Configurations", 1)[1].split("##", 1)[0]
    rows = [x for x in table.splitlines() if x.startswith("|")][2:]  # below the header and its rule
    assert len(rows) == len(finished)  # only the finished configurations are ranked


def test_asha_prunes_at_rungs_and_the_report_shows_the_pruned_trials(tmp_path, monkeypatch):
    trials, val, report, output = run_cli(tmp_path, monkeypatch, "asha")
    pruned, finished = check_stored(trials, val)
    assert {t[2] for t in pruned} <= RUNGS  # stopped at a rung, never between
    # At each rung, a trial pruned there scored below every trial of its group that went on.
    for tid, _, run, group in pruned:
        went_on = [t for t in trials if t[3] == group and t[0] != tid and t[2] > run]
        assert all(val[tid][run - 1] < val[t[0]][run - 1] for t in went_on), (tid, run)
    check_summary(output, pruned)
    check_report(report, pruned, finished)


def test_median_pruning_end_to_end(tmp_path, monkeypatch):
    trials, val, report, output = run_cli(tmp_path, monkeypatch, "median")
    pruned, finished = check_stored(trials, val)
    check_summary(output, pruned)
    check_report(report, pruned, finished)
