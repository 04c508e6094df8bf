"""Progress: the ETA counts work; the bar, count, elapsed time and ETA stay visible at
80 columns; plain lines without a terminal; an HTML bar in a notebook."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import types
from pathlib import Path

import pytest

from sweeplab.engine.progress import GroupWork, WorkClock, steps_per_epoch
from sweeplab.progress import NotebookProgress, PlainProgress, TerminalProgress, auto

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _train(display, clock: FakeClock, groups, epoch_seconds: float, setup: float = 0.0) -> None:
    """Drive a display as the engine does."""
    display.run_start(groups)
    for i, g in enumerate(groups):
        display.group_start(i, len(groups), g.trials, g.epochs, "g", steps=g.steps)
        clock.t += setup
        for e in range(1, g.epochs + 1):
            clock.t += epoch_seconds
            display.epoch_end(e, epoch_seconds, {"active": g.trials, "loss": 0.5})
        display.group_end(setup + g.epochs * epoch_seconds)
        display.group_saved(i)


def test_eta_counts_work_not_groups():
    # A small group, then one ten times bigger: the ETA must scale with the work left.
    clock = FakeClock()
    wc = WorkClock([GroupWork(1, 2, 10), GroupWork(10, 2, 10)], now=clock)
    wc.group_start(0, 1, 2, 10)
    wc.epoch_end(1, 1.5)  # the first epoch also compiles
    wc.epoch_end(2, 1.0)  # 10 trial-steps in 1 s
    wc.group_end(3.0)  # 1 s of fixed cost (compilation, final evaluation) beyond 20 steps at 0.1 s
    assert wc.fraction() == pytest.approx(20 / 220)
    assert wc.eta() == pytest.approx(200 * 0.1 + 1.0)  # not "one more group like the first" (3 s)
    wc.group_start(1, 10, 2, 10)
    wc.epoch_end(1, 10.0)
    assert wc.eta() == pytest.approx(100 * 0.1)


def test_eta_uses_the_exact_steps_the_trainer_reports():
    wc = WorkClock([GroupWork(2, 3, 5)], now=FakeClock())
    wc.group_start(0, 2, 3, steps=7)
    assert wc.total_units == 2 * 3 * 7


def test_steps_per_epoch():
    assert steps_per_epoch(1000, 32) == 32
    assert steps_per_epoch(1000, "full") == 1
    assert steps_per_epoch(1000, 64, cross_validation=5) == 13  # 800 rows per fold


def _terminal(width: int) -> tuple[TerminalProgress, FakeClock]:
    from rich.console import Console

    clock = FakeClock()
    display = TerminalProgress(Console(file=io.StringIO(), width=width, force_terminal=True))
    display.now = clock
    return display, clock


def test_terminal_lines_fit_80_columns_and_keep_bar_count_and_times():
    display, clock = _terminal(80)
    groups = [GroupWork(6, 30, 45)] * 4
    display.run_start(groups)
    display.clock = WorkClock(groups, now=clock)
    display.group_start(0, 4, 6, 30, "g", steps=45)
    clock.t += 65
    display.epoch_end(12, 2.5, {"active": 6, "loss": 0.123456, "val_loss": 0.234567, "extra_metric": 1.0})
    first, second = display.lines(79)
    assert len(first) <= 79 and len(second) <= 79
    assert re.search(r"━+─+ +\d+%  groups 0/4  0:01:05  eta \d:\d\d:\d\d$", first), first
    assert second.startswith("  group 1/4 (6 trials): epoch 12/30") and second.endswith("…")


def test_terminal_render_at_80_columns():
    from rich.console import Console

    display, clock = _terminal(80)
    _train(display, clock, [GroupWork(9, 3, 45), GroupWork(9, 3, 45)], 0.4, setup=1.0)
    display.finished = True
    out = Console(file=io.StringIO(), width=80, force_terminal=False, color_system=None)
    out.print(display._render())
    lines = out.file.getvalue().splitlines()
    assert len(lines) == 2 and all(len(x) <= 80 for x in lines), lines
    assert "100%  groups 2/2" in lines[0] and "eta 0:00:00" in lines[0]


def test_plain_lines_one_per_group_and_at_most_one_per_ten_seconds():
    clock = FakeClock()
    stream = io.StringIO()
    display = PlainProgress(stream, every=10.0, now=clock)
    _train(display, clock, [GroupWork(3, 100, 10), GroupWork(3, 100, 10)], 0.5)  # 50 s per group
    text = stream.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    saved = [x for x in lines if " saved " in x]
    assert [x.split("]")[0] for x in saved] == ["[ 50%", "[100%"]
    assert saved[-1].startswith("[100%] group 2/2 saved (3 trials, 100 epochs, 50.0 s)")
    during = [x for x in lines if " saved " not in x]
    assert 8 <= len(during) <= 10  # 100 s of training: one line per 10 s at most
    assert all(re.search(r"epoch \d+/100, 500 ms/epoch, active 3, loss 0\.5; elapsed", x) for x in during)


def test_notebook_bar(monkeypatch):
    updates = []

    class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns
        pass

    class Handle:
        def update(self, obj):
            updates.append(obj.data)

    display_mod = types.ModuleType("IPython.display")
    display_mod.HTML = type("HTML", (), {"__init__": lambda self, data: setattr(self, "data", data)})
    display_mod.display = lambda obj, display_id=False: Handle()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)

    display = auto()
    assert isinstance(display, NotebookProgress)
    clock = FakeClock()
    display.now = clock
    with display:
        _train(display, clock, [GroupWork(2, 2, 3)], 0.1)
        display.group["summary"] = {"<b>": 1.0}  # text is escaped, never markup
        display.update(saved=True)
    assert any('<progress value="1.0000"' in u for u in updates)
    assert "&lt;b&gt;" in updates[-1] and "<b>" not in updates[-1]


def test_python_run_progress_true_prints_plain_lines_without_a_terminal(tmp_path, capsys):
    import sweeplab
    from sweeplab.spec.expand import study_from_text

    study = study_from_text('[study]\nname = "p"\nrepeats = 2\n[data]\ndataset = "digits"\n[model]\n'
                            'mlp = { hidden = [4], activation = "relu" }\n[train]\nepochs = 2\n'
                            'batch_size = 256\nloss = "sparse_categorical_crossentropy"\n', "p.toml")
    sweeplab.run(study, tmp_path / "r", progress=True)
    err = capsys.readouterr().err
    assert "[100%] group 1/1 saved (2 trials, 2 epochs" in err and "\x1b" not in err
    sweeplab.run(study, tmp_path / "r2")  # the default stays silent
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- the real command
STUDY = """\
[study]
name = "progress"
repeats = 2
[data]
dataset = "digits"
[model]
mlp = { hidden = [8], activation = "relu" }
[train]
loss = "sparse_categorical_crossentropy"
batch_size = 64
epochs = 40
[sweep]
"model.mlp.hidden" = [[8], [16]]
"""


def _sweeplab() -> list[str]:
    script = Path(sys.executable).with_name("sweeplab")
    return [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]


def _env(**extra) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "JAX_PLATFORMS": "cpu",
            **extra}


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """``sweeplab run`` in an 80x24 terminal and with output to pipes, at the same time."""
    cwd = tmp_path_factory.mktemp("progress")
    (cwd / "study.toml").write_text(STUDY)
    args = ["run", "study.toml", "--no-report", "--out"]
    piped = subprocess.Popen([*_sweeplab(), *args, "piped"], cwd=cwd, env=_env(COLUMNS="80"), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = _env(TERM="xterm-256color")
    env.pop("COLUMNS", None)
    tty = subprocess.Popen([*_sweeplab(), *args, "tty"], cwd=cwd, env=env, stdin=slave, stdout=slave,
                           stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 240)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    tty.wait(60)
    out, err = piped.communicate(timeout=240)
    return {"tty": (tty.returncode, b"".join(chunks).decode("utf-8", "replace")),
            "piped": (piped.returncode, out, err)}


def test_terminal_at_80_columns(captures):
    rc, text = captures["tty"]
    assert rc == 0, text
    screen = [ANSI.sub("", x) for x in re.split(r"\r\n|\n|\r", text)]
    assert all(len(x) <= 80 for x in screen), max(screen, key=len)
    bars = [x for x in screen if re.search(r"━.* \d+%  groups \d/2  \d:\d\d:\d\d  eta \d:\d\d:\d\d$", x)]
    assert bars and bars[-1].split()[1:4] == ["100%", "groups", "2/2"], bars[-3:]
    assert any(x.startswith("  group 2/2 (2 trials): epoch 40/40") for x in screen)
    assert "device: cpu" in text


def test_no_terminal_plain_lines(captures):
    rc, out, err = captures["piped"]
    assert rc == 0, err
    assert "\x1b" not in err + out
    lines = [x for x in err.splitlines() if x.strip()]
    saved = [x for x in lines if " saved " in x]
    assert len(saved) == 2, err
    assert re.match(r"\[ 50%\] group 1/2 saved \(2 trials, 40 epochs, \d+\.\d s\); elapsed \d:\d\d:\d\d, eta ", saved[0])
    assert saved[1].startswith("[100%] group 2/2 saved (2 trials, 40 epochs, ") and saved[1].endswith("eta 0:00:00")
    assert len(lines) <= 2 + 2  # a group here trains in well under 10 s: at most one more line each


def test_eta_counts_down_between_epochs():
    clock = FakeClock()
    wc = WorkClock([GroupWork(1, 2, 10), GroupWork(1, 2, 10)], now=clock)
    wc.group_start(0, 1, 2, 10)
    clock.t += 1.0
    wc.epoch_end(1, 1.0)
    clock.t += 1.0
    wc.epoch_end(2, 1.0)
    wc.group_end(2.0)
    assert wc.eta() == pytest.approx(2.0)
    clock.t += 0.5  # the next group compiles: no event, but time passes
    assert wc.eta() == pytest.approx(1.5)
    clock.t += 5
    assert wc.eta() == 0.0


def test_no_eta_from_a_first_epoch_that_also_compiled():
    clock = FakeClock()
    wc = WorkClock([GroupWork(2, 150, 23), GroupWork(2, 150, 23)], now=clock)
    wc.group_start(0, 2, 150, 23)
    wc.epoch_end(1, 1.4)  # mostly compilation: 150 epochs at this pace would say 7 minutes
    assert wc.eta() is None
    wc.epoch_end(2, 0.01)
    assert wc.eta() == pytest.approx(0.01 * (148 + 150) + 0.0)


# ----------------------------------------------------------------------------- groups in parallel
def _two_at_once(clock: FakeClock):
    """The events of 4 groups (2 trials x 3 epochs x 10 steps) trained two at a time, interleaved,
    with the fake time of each: first epochs 3 s (they compile), then 1 s per epoch."""
    from sweeplab.engine import events as ev

    g = GroupWork(2, 3, 10)
    yield ev.RunStarted((g,) * 4)
    yield ev.GroupStarted(0, 4, 2, 3, "a", steps=10)
    yield ev.GroupStarted(1, 4, 2, 3, "b", steps=10)
    clock.t = 3.0
    yield ev.EpochDone(0, 1, 3.0)
    yield ev.EpochDone(1, 1, 3.0)
    clock.t = 4.0
    yield ev.EpochDone(1, 2, 1.0)
    yield ev.EpochDone(0, 2, 1.0)
    yield "two epochs each"
    clock.t = 5.0
    yield ev.EpochDone(1, 3, 1.0)
    yield ev.GroupFinished(1, 6.0)  # 60 units at 0.05 s: 3 s of training, 3 s of fixed cost
    yield ev.GroupSaved(1)
    yield ev.EpochDone(0, 3, 1.0)
    yield ev.GroupFinished(0, 5.0)  # 2 s of fixed cost
    yield ev.GroupSaved(0)
    yield ev.GroupStarted(2, 4, 2, 3, "c", steps=10)
    yield ev.GroupStarted(3, 4, 2, 3, "d", steps=10)
    yield "half saved"


def test_eta_with_groups_in_parallel_counts_each_groups_epochs_and_divides_the_work_left():
    clock = FakeClock()
    wc = WorkClock(now=clock)
    for e in _two_at_once(clock):
        if isinstance(e, str):
            if e == "two epochs each":
                assert wc.done_units == 2 * 2 * 10 * 2 and wc.fraction() == pytest.approx(1 / 3)
                # 160 units left at 0.05 s per unit on each of 2 workers (not 8 s as if one trained)
                assert wc.eta() == pytest.approx(160 * 0.05 / 2)
            else:
                assert wc.fraction() == pytest.approx(0.5)
                # 120 units + 2 groups' fixed cost (mean 2.5 s), over 2 workers
                assert wc.eta() == pytest.approx((120 * 0.05 + 2 * 2.5) / 2)
                clock.t += 1.0
                assert wc.eta() == pytest.approx((120 * 0.05 + 2 * 2.5) / 2 - 1.0)  # counts down
            continue
        if type(e).__name__ == "RunStarted":
            wc = WorkClock(e.groups, now=clock)
        elif type(e).__name__ == "GroupStarted":
            wc.group_start(e.index, e.n_trials, e.epochs, e.steps)
        elif type(e).__name__ == "EpochDone":
            wc.epoch_end(e.epoch, e.seconds, index=e.index)
        elif type(e).__name__ == "GroupFinished":
            wc.group_end(e.seconds, index=e.index)


def test_the_clis_display_and_progress_json_follow_groups_in_parallel(tmp_path):
    import json

    from sweeplab import cli
    from sweeplab.dashboard.progress_file import ProgressFile, Tee

    clock = FakeClock()
    stream = io.StringIO()
    display = PlainProgress(stream, every=1e9, now=clock)
    sink = ProgressFile(tmp_path, every=0.0, now=clock)
    safe = cli._SafePoints(Tee(display, sink))  # what `sweeplab run` feeds the engine's events to
    for e in _two_at_once(clock):
        if e == "two epochs each":
            assert display.clock.fraction() == pytest.approx(1 / 3)
            assert display.clock.eta() == pytest.approx(4.0)
            state = json.loads((tmp_path / "progress.json").read_text())
            assert state["fraction"] == pytest.approx(1 / 3, abs=1e-4) and state["eta"] == pytest.approx(4.0)
            assert state["group"] == 0 and state["epoch"] == 2  # the group that reported last
        elif e == "half saved":
            state = json.loads((tmp_path / "progress.json").read_text())
            assert state["saved"] == 2 and state["fraction"] == pytest.approx(0.5)
        elif not isinstance(e, str):
            safe(e)
    saved = [x for x in stream.getvalue().splitlines() if " saved " in x]
    # each line describes the group just saved: group index 1 took 6 s, group index 0 5 s
    assert saved[0].startswith("[ 42%] group 1/4 saved (2 trials, 3 epochs, 6.0 s)"), saved  # 100 of 240 units
    assert saved[1].startswith("[ 50%] group 2/4 saved (2 trials, 3 epochs, 5.0 s)"), saved


def test_a_searchs_rounds_add_up_in_the_display_and_the_interrupt_line():
    from sweeplab import cli
    from sweeplab.engine import events as ev

    clock = FakeClock()
    stream = io.StringIO()
    display = PlainProgress(stream, every=1e9, now=clock)
    safe = cli._SafePoints(display)
    for _ in range(2):  # a search: one run per round, each of one group, indices from 0 again
        safe(ev.RunStarted((GroupWork(2, 1, 10),)))
        safe(ev.GroupStarted(0, 1, 2, 1, "g", steps=10))
        clock.t += 2.0
        safe(ev.EpochDone(0, 1, 2.0))
        safe(ev.GroupFinished(0, 2.0))
        safe(ev.GroupSaved(0))
    saved = [x for x in stream.getvalue().splitlines() if " saved " in x]
    assert [x.split(" saved ")[0] for x in saved] == ["[100%] group 1/1", "[100%] group 2/2"], saved
    assert saved[1].endswith("elapsed 0:00:04, eta 0:00:00")  # the elapsed time runs on over rounds
    assert safe.message().startswith("interrupted: 2 of 2 groups saved")
