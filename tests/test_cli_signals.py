"""Ctrl-C, SIGTERM and SIGHUP during ``sweeplab run``: one clean line, the finished
groups kept, exit 128 + signal, never a traceback or a C++ abort; a rerun resumes.

The run tests start real ``sweeplab run`` processes (each pays the JAX start-up),
so the default suite sends only a few signals; ``-m slow`` sends many more.
The ``_signals`` tests run a small Python process without JAX.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("sweeplab")
SWEEPLAB = [str(_SCRIPT)] if _SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]

STUDY = """\
[study]
name = "signals"
seed = 0
repeats = 2
[data]
dataset = "digits"
validation_split = 0.2
[model]
mlp = { hidden = [8], activation = "relu" }
[train]
optimizer = "adam"
loss = "sparse_categorical_crossentropy"
batch_size = 64
epochs = 200
[sweep]
"model.mlp.hidden" = [[8], [16], [32]]
"""
N_GROUPS, N_TRIALS = 3, 6
BAD = ("Traceback", "terminate called", "Exception ignored", "KeyboardInterrupt", "nanobind")
LINE = re.compile(r"^interrupted: (\d+)(?: of (\d+))? groups saved; run the same command again to resume$")


def _env() -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "JAX_PLATFORMS": "cpu",
            "COLUMNS": "200", "NO_COLOR": "1"}


class Run:
    """A ``sweeplab run`` subprocess whose output lines are watched as they come."""

    def __init__(self, cwd: Path, out: str, *extra: str):
        # An ignored SIGINT is inherited (pytest started in the background by a script): the child
        # would keep ignoring Ctrl-C, as it should. Give it a terminal's default instead.
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.p = subprocess.Popen([*SWEEPLAB, "run", "study.toml", "--out", out, *extra], cwd=cwd, env=_env(),
                                      text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        finally:
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.t0 = time.monotonic()
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(s, k), daemon=True)
                        for s, k in ((self.p.stdout, "out"), (self.p.stderr, "err"))]
        for r in self.readers:
            r.start()

    def _read(self, stream, key: str) -> None:
        for line in stream:
            with self.cond:
                self.lines[key].append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:  # end of output: wake a waiter (the process is ending)
            self.cond.notify_all()

    def wait_for(self, pattern: str, key: str = "err", timeout: float = 240) -> bool:
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while not any(rx.search(x) for x in self.lines[key]):
                if self.p.poll() is not None or time.monotonic() > end:  # the output may end before the exit
                    return any(rx.search(x) for x in self.lines[key])
                self.cond.wait(0.2)
            return True

    def send(self, sig: int) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def finish(self, timeout: float = 240) -> tuple[int, str, str]:
        rc = self.p.wait(timeout)
        for r in self.readers:
            r.join(10)
        return rc, "\n".join(self.lines["out"]), "\n".join(self.lines["err"])


def _assert_clean(stderr: str) -> None:
    for bad in BAD:
        assert bad not in stderr, stderr


def _interrupted(rc: int, stderr: str, sig: int) -> tuple[int, int | None]:
    assert rc == 128 + sig, (rc, stderr)
    _assert_clean(stderr)
    last = [x for x in stderr.splitlines() if x.strip()][-1]
    m = LINE.match(last)
    assert m, stderr
    assert sum(1 for x in stderr.splitlines() if x.startswith("interrupted")) == 1, stderr
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def _finished(run_dir: Path) -> int:
    db = run_dir / "results.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM trials WHERE status != 'pending'").fetchone()[0]


@pytest.fixture(autouse=True)
def _signals_not_ignored():
    """Children inherit an ignored SIGINT/SIGHUP (``nohup cmd &`` from a script) and keep it, by design."""
    ignored = [s.name for s in (signal.SIGINT, signal.SIGHUP) if signal.getsignal(s) == signal.SIG_IGN]
    if ignored:
        pytest.fail(f"{', '.join(ignored)} ignored in the test process (started with nohup or '&' from a "
                    "script?): its children inherit that, so these signal tests cannot pass; run the tests "
                    "in the foreground")


@pytest.fixture()
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "study.toml").write_text(STUDY)
    return tmp_path


def test_sigint_in_training_keeps_groups_then_sighup_after_training_and_rerun_resumes(cwd):
    # 1. Ctrl-C once the first group is saved: that group stays, the one in flight is dropped.
    run = Run(cwd, "r", "--no-report")
    assert run.wait_for(r"group 1/3 saved")
    run.send(signal.SIGINT)
    rc, out, err = run.finish()
    saved, of = _interrupted(rc, err, signal.SIGINT)
    assert of == N_GROUPS and 1 <= saved < N_GROUPS
    assert _finished(cwd / "r") == 2 * saved  # 2 trials per group, committed whole

    # 2. The same command again resumes; SIGHUP after training (summary/report) still exits cleanly.
    run = Run(cwd, "r")
    assert run.wait_for(r"^trained \d+", key="out")
    run.send(signal.SIGHUP)
    rc, out, err = run.finish()
    assert f"trained {N_TRIALS - 2 * saved}, skipped {2 * saved} finished" in out, out
    left = N_GROUPS - saved
    assert _interrupted(rc, err, signal.SIGHUP) == (left, left)
    assert _finished(cwd / "r") == N_TRIALS


def test_sigterm_during_start_up(cwd):
    run = Run(cwd, "r", "--no-report")
    time.sleep(0.6)  # importing JAX: no safe point for seconds; the watchdog ends the process
    run.send(signal.SIGTERM)
    rc, out, err = run.finish()
    assert _interrupted(rc, err, signal.SIGTERM)[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_at_many_moments_then_a_complete_rerun(cwd, sig):
    """Signals at start-up, planning, compilation, training and commit; twice in a row; then resume."""
    moments = [0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, "group 1/", "group 2/"]
    for i, when in enumerate(moments):
        run = Run(cwd, "r", "--no-report")
        if isinstance(when, str):
            run.wait_for(when)
        else:
            time.sleep(when)
        run.send(sig)
        if i % 3 == 2:  # an impatient user: a second signal right away
            time.sleep(0.05)
            run.send(sig)
        rc, out, err = run.finish()
        if rc == 0:  # the run ended before the signal
            assert "trained" in out
            break
        _interrupted(rc, err, sig)
    rc, out, err = Run(cwd, "r", "--no-report").finish()
    assert rc == 0, err
    _assert_clean(err)
    assert _finished(cwd / "r") == N_TRIALS
    with sqlite3.connect(cwd / "r" / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(DISTINCT trial_id) FROM trials").fetchone()[0] == N_TRIALS


# ----------------------------------------------------------------------------- _signals without JAX
def _script(body: str, tmp_path: Path) -> subprocess.Popen:
    code = "import os, sys, time\nfrom sweeplab import _signals\n_signals.install()\n" + textwrap.dedent(body)
    (tmp_path / "s.py").write_text(code)
    return subprocess.Popen([sys.executable, str(tmp_path / "s.py")], env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _communicate(p: subprocess.Popen) -> tuple[str, str]:
    """The script's output; a script still running after 30 s is killed, not leaked (it may loop forever)."""
    try:
        return p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def _ready(p: subprocess.Popen) -> None:
    assert p.stdout.readline().strip() == "ready"


def test_a_signal_inside_a_gc_callback_is_not_lost(tmp_path):
    # JAX's gc callback used to swallow KeyboardInterrupt ("Exception ignored in ...") and the run went on.
    p = _script("""
        import gc, signal
        def cb(phase, info):
            if phase == "start" and not getattr(cb, "sent", False):
                cb.sent = True
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(10000):  # the handler runs in here
                    pass
        gc.callbacks.append(cb)
        gc.collect()
        print("ready", flush=True)
        try:
            for _ in range(100):
                _signals.check()  # a safe point, like an epoch end
                time.sleep(0.01)
        except _signals.Interrupted as e:
            print("interrupted at a safe point", flush=True)
            sys.exit(e.exit_code)
        print("signal lost", flush=True)
    """, tmp_path)
    out, err = _communicate(p)
    assert p.returncode == 130, (out, err)
    assert "interrupted at a safe point" in out and "Exception ignored" not in err and "Traceback" not in err


def test_watchdog_ends_a_stretch_without_safe_points(tmp_path):
    p = _script("""
        _signals.set_message(lambda: "interrupted: 2 of 5 groups saved; run the same command again to resume")
        print("ready", flush=True)
        while True:  # like compiling or importing JAX: never reaches a safe point
            sum(range(10000))
    """, tmp_path)
    _ready(p)
    p.send_signal(signal.SIGTERM)
    out, err = _communicate(p)
    assert p.returncode == 143, err
    assert err.strip() == "interrupted: 2 of 5 groups saved; run the same command again to resume"


def test_watchdog_waits_for_a_commit_in_progress(tmp_path):
    p = _script("""
        _signals.begin_critical()
        print("ready", flush=True)
        t = time.monotonic()
        while time.monotonic() - t < 2.5:  # a commit longer than the grace period
            sum(range(10000))
        print("committed", flush=True)
        _signals.end_critical()
        while True:
            sum(range(10000))
    """, tmp_path)
    _ready(p)
    p.send_signal(signal.SIGINT)
    out, err = _communicate(p)
    assert p.returncode == 130, err
    assert "committed" in out  # the watchdog did not cut the commit


def test_an_inherited_ignore_is_kept(tmp_path):
    # nohup ignores SIGHUP (an ignored disposition survives exec); the handlers must not undo that.
    code = ("import signal, os, time\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)  # as inherited\n"
            "from sweeplab import _signals\n_signals.install()\n"
            "os.kill(os.getpid(), signal.SIGHUP)\ntime.sleep(1.5)\nprint('still here')\n")
    p = subprocess.run([sys.executable, "-c", code], env=_env(), text=True, capture_output=True, timeout=30)
    assert p.returncode == 0 and "still here" in p.stdout, p.stderr


def test_after_the_command_a_late_signal_cannot_kill_the_interpreter_shutdown(tmp_path):
    # Python restores the default action of handled signals while it shuts down (seconds with
    # JAX): a Ctrl-C then killed a finished run with -2. block() makes late signals ignored.
    p = _script("""
        import signal
        _signals.block()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)
        print("alive", _signals.pending(), flush=True)
    """, tmp_path)
    out, err = _communicate(p)
    assert p.returncode == 0 and out.strip() == "alive None", (out, err)
