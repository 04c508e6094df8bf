"""``[search]`` and the ``[sweep]`` distributions: validated like every field, one line naming field, value, accepted."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bad_studies import CASES

SEARCH_CASES = [name for name in CASES if name.startswith("search_")]

# what each message must name (the field and the value or what is accepted)
NAMES = {
    "search_grid_with_distribution": ["sweep.\"train.learning_rate\"", "loguniform", "strategy = \"random\""],
    "search_strategy_grid_with_distribution": ["sweep.\"train.learning_rate\"", "'grid'"],
    "search_unknown_strategy": ["search.strategy", "bayes", "'tpe'"],
    "search_zero_trials": ["search.n_trials", "0"],
    "search_loguniform_zero": ["sweep.\"train.learning_rate\"", "[0, 0.1]", "low > 0"],
    "search_low_above_high": ["sweep.\"model.mlp.dropout\"", "[0.5, 0.1]", "low < high"],
    "search_int_float_bounds": ["sweep.\"train.batch_size\"", "64.5", "integer bounds"],
    "search_two_kinds": ["sweep.\"model.mlp.dropout\"", "exactly one of"],
    "search_log_on_uniform": ["sweep.\"model.mlp.dropout\"", "int axis only"],
    "search_unknown_kind": ["sweep.\"model.mlp.dropout\"", "normal", "loguniform"],
    "search_empty_choice": ["sweep.\"train.optimizer\"", "non-empty"],
    "search_bad_choice_value": ["train.optimizer", "adamm", "adam"],
    "search_bound_out_of_field_range": ["model.mlp.dropout", "1.5"],
    "search_zip": ["sweep.zip", "one axis per field"],
    "search_unknown_metric": ["search.metric", "val_acuracy", "val_loss"],
    "search_too_many_trials": ["search.n_trials", "200,000", "max_trials"],
    "search_pruner_on_grid": ["search.pruner", "median", "random"],
    "search_unknown_pruner": ["search.pruner", "hyperband", "'asha'"],
    "search_cmaes_choice": ["sweep.\"train.optimizer\"", "['adam', 'sgd']", "\"cmaes\" samples numbers only"],
}


def test_every_error_case_says_what_it_must():
    assert set(NAMES) == {n for n in SEARCH_CASES if CASES[n][1] == "error"}


@pytest.mark.parametrize("name", SEARCH_CASES)
def test_search_study_checks_with_one_line(name, tmp_path, monkeypatch):
    from sweeplab.cli import app

    _, expected, make = CASES[name]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", str(make(tmp_path))])
    assert "Traceback" not in result.stdout + result.stderr
    if expected == "ok":
        assert result.exit_code == 0, result.stderr
        out = " ".join(result.stdout.split())
        assert "search: tpe, 10 configuration(s)" in out and "train.batch_size: int (log) [16, 64]" in out
        return
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in NAMES[name]:
        assert part in lines[0], (part, lines[0])
