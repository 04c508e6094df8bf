"""One error tree: every error sweeplab raises on purpose derives from SweeplabError,
and the CLI shows only those as one line; anything else is a bug with its traceback.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import sweeplab
from sweeplab.errors import MachineError, SweeplabError, UserError, exit_code

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

GOOD = BAD.replace('"rleu"', '"relu"')

# ``main()`` with ``run_study`` replaced by one that fails the way a bug inside
# training does (a shape mistake raises a plain ValueError in JAX).
BUG = textwrap.dedent("""\
    import sys
    import sweeplab.engine.run as r
    def run_study(*args, **kw):
        raise ValueError("Incompatible shapes for broadcasting: (32, 10) and (32, 8)")
    r.run_study = run_study
    from sweeplab.cli import main
    sys.argv[0] = "sweeplab"
    main()
""")


def _classes():
    """Every exception class defined in a sweeplab module."""
    found = {}
    for info in pkgutil.walk_packages(sweeplab.__path__, "sweeplab."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("sweeplab."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_sweeplab_exception_has_the_one_root():
    classes = _classes()
    assert "sweeplab.store.errors.StoreError" in classes and len(classes) >= 10
    # Interrupted is a BaseException on purpose: Ctrl-C is not an error of any kind.
    # Warnings are not errors; a private class (vocab.params._Reject) never leaves its module.
    strays = [name for name, cls in classes.items()
              if not issubclass(cls, (SweeplabError, Warning)) and name != "sweeplab._signals.Interrupted"
              and not name.rsplit(".", 1)[-1].startswith("_")]
    assert strays == []


def test_user_and_machine_errors_choose_the_exit_code():
    from sweeplab.data.download import ChecksumError, DownloadError
    from sweeplab.data.formats import FormatError
    from sweeplab.spec.errors import FieldError, StudyError
    from sweeplab.store import StoreEnvironmentError, StoreError
    from sweeplab.vocab.params import InvalidParamError
    from sweeplab.vocab.registry import UnknownNameError

    for cls in (StudyError, FieldError, UnknownNameError, InvalidParamError, FormatError, ChecksumError,
                DownloadError, StoreError):
        assert issubclass(cls, UserError) and issubclass(cls, ValueError), cls
        assert exit_code(cls.__new__(cls)) == 2
    assert issubclass(StoreEnvironmentError, StoreError) and issubclass(StoreEnvironmentError, MachineError)
    assert exit_code(StoreEnvironmentError("disk full")) == 1


def test_model_and_monitor_mistakes_are_user_errors():
    from sweeplab.engine.plan import check_monitor
    from sweeplab.spec.expand import study_from_text

    s = study_from_text(GOOD + '[train.early_stopping]\nmonitor = "val_accuracy"\n', "s.toml")
    from sweeplab.engine.run import plan

    with pytest.raises(UserError, match="train.early_stopping.monitor"):
        plan(s)
    assert check_monitor(None, None, False) is None


def _cli(tmp_path, *args, script=None):
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-c", script or "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]
    return subprocess.Popen([*cmd, *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("errors")
    (cwd / "bad.toml").write_text(BAD)
    (cwd / "good.toml").write_text(GOOD)
    procs = {
        "bug": _cli(cwd, "run", "good.toml", "--out", str(cwd / "run"), "--no-report", script=BUG),
        "bad": _cli(cwd, "check", "bad.toml"),
        "bad-debug": _cli(cwd, "--debug", "check", "bad.toml"),
    }
    return {name: (p.wait(timeout=300), *p.communicate()) for name, p in procs.items()}


def test_a_value_error_inside_training_is_a_bug_with_its_traceback(results):
    code, _, stderr = results["bug"]
    assert code == 1
    assert "Traceback (most recent call last)" in stderr
    assert "ValueError: Incompatible shapes for broadcasting" in stderr
    assert "error: " not in stderr  # not dressed up as a mistake in the study file


def test_a_bad_study_is_still_one_line_exit_2(results):
    code, _, stderr = results["bad"]
    assert code == 2
    assert stderr.strip().count("\n") == 0 and stderr.startswith("error: bad.toml")
    assert "Traceback" not in stderr


def test_debug_shows_the_traceback_of_a_user_error(results):
    code, _, stderr = results["bad-debug"]
    assert code == 2
    assert "Traceback (most recent call last)" in stderr and "StudyError" in stderr
    assert stderr.rstrip().splitlines()[-1].startswith("error: bad.toml")


def test_report_option_naming_an_unrecorded_metric_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from sweeplab.cli import app
    from sweeplab.store import Store
    from sweeplab.store.testing import make_record, make_result

    with Store(tmp_path, lock=False) as store:
        store.set_study("demo", "", {"study": {"name": "demo"}, "report": {"select_by": "test_f1"}}, ["a"])
        store.register([make_record("a")])
        store.commit_group([make_result("a")])
    out = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert out.output.strip().splitlines() == [
        "error: [report] select_by: 'test_f1' was not recorded; recorded: test_accuracy, test_loss, train_loss, val_loss"]
