"""The CLI on bad input: one line on stderr, exit code 2, never a traceback.

The commands run as real subprocesses, all started at once (each one pays the
interpreter and JAX start-up), so the module takes about as long as the slowest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BAD = """\
[study]
name = "bad"
[data]
dataset = "digits"
[model]
mlp = { hidden = [8], activation = "rleu" }
[train]
epochs = 1
"""

MISMATCH = BAD.replace('"rleu"', '"relu"').replace("epochs = 1", 'epochs = 1\nloss = "binary_crossentropy"')

# The installed console script (next to this interpreter), else the same entry point via -c.
_SCRIPT = Path(sys.executable).with_name("sweeplab")
SWEEPLAB = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]

COMMANDS = {
    "check-bad": ["check", "bad.toml"],
    "check-mismatch": ["check", "mismatch.toml"],
    "run-nonexistent": ["run", "nonexistent"],
    "show-nonexistent": ["show", "/nonexistent"],
    "check-quickstart": ["check", "quickstart"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "bad.toml").write_text(BAD)
    (cwd / "mismatch.toml").write_text(MISMATCH)
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "JAX_PLATFORMS": "cpu"}
    procs = {name: subprocess.Popen([*SWEEPLAB, *args], cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in COMMANDS.items()}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        out[name] = (p.returncode, stdout, stderr)
    return out


def _one_line_error(result) -> str:
    rc, stdout, stderr = result
    assert rc == 2, (rc, stdout, stderr)
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_check_bad_study_names_the_field(results):
    line = _one_line_error(results["check-bad"])
    assert "bad.toml: field 'model.mlp.activation'" in line
    assert "'rleu'" in line and "did you mean 'relu'?" in line and "accepted: linear, relu" in line


def test_check_model_mismatch_found_at_build(results):
    line = _one_line_error(results["check-mismatch"])
    assert "mismatch.toml" in line and "train.loss" in line and "'binary_crossentropy'" in line


def test_run_unknown_study(results):
    line = _one_line_error(results["run-nonexistent"])
    assert "'nonexistent'" in line and "quickstart" in line


def test_show_missing_run_dir(results):
    line = _one_line_error(results["show-nonexistent"])
    assert "/nonexistent" in line


def test_check_quickstart_prints_trial_count(results):
    rc, stdout, stderr = results["check-quickstart"]
    assert rc == 0, stderr
    assert "Traceback" not in stderr
    text = " ".join(stdout.split())
    assert "ok" in text and "18 trials" in text and "compiled group" in text


# ----------------------------------------------------------------------------- on a finished run
# The name and a swept value hold text Rich would read as markup ("[/x]" raised MarkupError,
# "[bold]" vanished): they must print as typed.
MARKUP_STUDY = """\
[study]
name = "m[/x][bold]b"
[data]
dataset = "digits"
[model]
mlp = { hidden = [4], activation = "relu" }
[train]
epochs = 1
batch_size = 512
loss = "sparse_categorical_crossentropy"
[sweep]
"model.mlp.hidden" = [[4], [6]]
"""
BAD_SWEEP = MARKUP_STUDY.replace('"model.mlp.hidden" = [[4], [6]]', '"train.batch_size" = [0, 32]')

RUN_COMMANDS = {
    "show-metric-nonsense": ["show", "r", "-m", "nonsense"],
    "show-sort-nonsense": ["show", "r", "--sort", "nonsense"],
    "show-file": ["show", "r/results.sqlite"],
    "report-into-a-directory": ["report", "blocked"],
    "check-bad-sweep": ["check", "bad_sweep.toml"],
    "version": ["--version"],
    "list-vocab": ["list", "vocab"],
    "summary-all": ["summary", "quickstart", "--all"],
    "summary-config": ["summary", "quickstart", "--config", "2"],
    "summary-config-out-of-range": ["summary", "quickstart", "--config", "7"],
    "data-info": ["data", "info", "digits"],
    "data-list": ["data", "list"],
}


@pytest.fixture(scope="module")
def on_run(tmp_path_factory):
    import shutil

    import sweeplab

    cwd = tmp_path_factory.mktemp("cli-run")
    (cwd / "markup.toml").write_text(MARKUP_STUDY)
    (cwd / "bad_sweep.toml").write_text(BAD_SWEEP)
    sweeplab.run(sweeplab.load_study(str(cwd / "markup.toml")), cwd / "r")
    shutil.copytree(cwd / "r", cwd / "blocked")
    (cwd / "blocked" / "report.html").mkdir()  # the report cannot be written: an environment problem
    before = sorted(p.name for p in cwd.iterdir())
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "JAX_PLATFORMS": "cpu"}
    procs = {name: subprocess.Popen([*SWEEPLAB, *args], cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in RUN_COMMANDS.items()}
    out = {name: (p.returncode, *p.communicate(timeout=300)) for name, p in procs.items()}
    out = {name: (procs[name].returncode, o, e) for name, (_, o, e) in out.items()}
    out["files-before"], out["files-after"] = before, sorted(p.name for p in cwd.iterdir())
    return out


@pytest.mark.parametrize("name", ["show-metric-nonsense", "show-sort-nonsense"])
def test_show_unknown_metric_is_a_usage_error(on_run, name):
    line = _one_line_error(on_run[name])
    assert "'nonsense'" in line and re.search(r"(available|recorded): ", line) and "test_accuracy" in line


def test_show_accepts_the_results_file_and_prints_user_text_as_typed(on_run):
    rc, stdout, stderr = on_run["show-file"]
    assert rc == 0, stderr
    assert "m[/x][bold]b: mean" in stdout and "[4]" in stdout and "[6]" in stdout


def test_error_context_in_brackets_is_printed(on_run):
    line = _one_line_error(on_run["check-bad-sweep"])
    assert "[sweep: train.batch_size = 0]" in line


def test_report_that_cannot_be_written_is_one_line_exit_1(on_run):
    rc, stdout, stderr = on_run["report-into-a-directory"]
    assert rc == 1, stderr
    assert "Traceback" not in stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "report.html" in lines[0], stderr


def test_version(on_run):
    from sweeplab import __version__

    rc, stdout, _ = on_run["version"]
    assert rc == 0 and stdout.strip() == f"sweeplab {__version__}"


def test_list_vocab_at_80_columns(on_run):
    rc, stdout, stderr = on_run["list-vocab"]
    assert rc == 0, stderr
    assert "losses" in stdout.split() and "losss" not in stdout
    assert "…" not in stdout  # long defaults wrap, never cut
    assert re.search(r"kernel_initializer='glorot\s*_uniform'", stdout)
    assert all(len(x) <= 80 for x in stdout.splitlines())


def test_summary_says_which_configuration_and_shows_each(on_run):
    rc, stdout, stderr = on_run["summary-all"]
    assert rc == 0, stderr
    assert "configurations 1, 3, 5 of 6 (the same model):" in stdout
    assert "  4: activation=tanh, hidden=[64]" in stdout
    assert "(None, 16)" in stdout and "(None, 64)" in stdout
    rc, stdout, stderr = on_run["summary-config"]
    assert rc == 0 and "configuration 2 of 6:" in stdout and "(None, 64)" in stdout and "(None, 16)" not in stdout
    line = _one_line_error(on_run["summary-config-out-of-range"])
    assert "--config 7" in line and "1..6" in line


def test_data_info_writes_nothing_without_figures(on_run):
    rc, stdout, stderr = on_run["data-info"]
    assert rc == 0, stderr
    assert "wrote" not in stdout
    assert on_run["files-after"] == on_run["files-before"]


def test_data_list_fits_the_terminal(on_run):
    rc, stdout, stderr = on_run["data-list"]
    assert rc == 0, stderr
    assert "mnist" in stdout and all(len(x) <= 80 for x in stdout.splitlines())


def test_store_environment_error_is_exit_1(monkeypatch, tmp_path):
    # A full or unreadable disk is not the user's mistake: exit 1 (a damaged store stays exit 2).
    from typer.testing import CliRunner

    import sweeplab.store as store
    from sweeplab import cli

    def unreadable(*args, **kwargs):
        raise store.StoreEnvironmentError(f"{tmp_path}: cannot read results.sqlite (disk I/O error)")

    monkeypatch.setattr(store, "load", unreadable)
    result = CliRunner().invoke(cli.app, ["show", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"error: {tmp_path}: cannot read results.sqlite (disk I/O error)"


def test_data_info_bad_param_is_one_line_but_a_loader_bug_is_not_hidden(monkeypatch):
    # A wrong --param is the user's (exit 2, one line); a ValueError from a bug inside a loader used to be
    # printed the same way, hiding the bug: now it propagates with its traceback.
    from typer.testing import CliRunner

    from sweeplab.data import loaders
    from sweeplab.data.cli import app

    bad = CliRunner().invoke(app, ["info", "synthetic2d", "--param", "colour=1"])
    assert bad.exit_code == 2, bad.output
    assert bad.output.strip().startswith("error: data.params: unknown parameter(s) colour")

    def buggy(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(loaders, "load_raw", buggy)
    result = CliRunner().invoke(app, ["info", "synthetic2d"])
    assert isinstance(result.exception, ValueError), (result.exit_code, result.output)
    assert "operands could not be broadcast" in str(result.exception)
