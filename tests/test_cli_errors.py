"""The CLI on bad input: one line on stderr, exit code 2, never a traceback.

The commands run as real subprocesses, all started at once (each one pays the
interpreter and JAX start-up), so the module takes about as long as the slowest.
"""

from __future__ import annotations

import os
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
