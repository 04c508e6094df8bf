"""Progress displays for a run: a terminal, a log file (or CI), a Jupyter notebook.

All three are event listeners (:class:`sweeplab.engine.progress.Progress`: called
with an event of :mod:`sweeplab.engine.events`, they run the matching callback)
and count *work* (trial-steps, see :mod:`sweeplab.engine.progress`), so the bar
and the ETA move with training, not with the number of groups.

* :class:`TerminalProgress` (stderr is a terminal): two lines redrawn in place.
  The first holds the bar, the percentage, the group count, the elapsed time
  and the ETA and always fits the width (only the bar shrinks); the second
  describes the group in flight and is cut with "…" when it is too long.
* :class:`PlainProgress` (no terminal: a log, CI, ``!sweeplab run`` in
  Jupyter): plain lines without escape codes, one per saved group and at most
  one every ``every`` seconds (default 10) while a group trains.
* :class:`NotebookProgress` (inside a Jupyter kernel): an HTML progress bar
  updated in place through IPython's display handles (no extra package).

:func:`auto` picks one of them.
"""

from __future__ import annotations

import html
import os
import sys
import time
from typing import Sequence, TextIO

from sweeplab.engine.progress import GroupWork, Progress, WorkClock


def clock_text(seconds: float | None) -> str:
    """``0:01:05``; ``-:--:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(round(max(seconds, 0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def per_epoch_text(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms/epoch" if seconds < 1 else f"{seconds:.2f} s/epoch"


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ending in "…" when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


class _Tracked(Progress):
    """The state every display shows: the work clock and what the groups in flight report.

    Several groups may train at once (a parallel executor): each group's epochs
    are counted on its own (``indexed``), and the second line describes the
    group that reported last. A search starts a run per round (``run_start``
    again): the groups saved so far stay counted, and the elapsed time runs on.
    """

    indexed = True  # epoch_end and group_end receive the group's index

    def __init__(self, now=time.monotonic) -> None:
        self.clock = WorkClock(now=now)
        self.now = now
        self.n_groups = 0
        self.group: dict = {}
        self.groups: dict[int, dict] = {}  # index -> what the group reported (this run)
        self.saved = 0
        self.offset = 0  # groups of earlier runs (a search's earlier rounds)
        self.t0: float | None = None
        self.finished = False

    # callbacks, one per event kind (Progress.__call__ dispatches)
    def run_start(self, groups: Sequence[GroupWork]) -> None:
        if self.t0 is None:
            self.t0 = self.now()
        self.clock = WorkClock(groups, now=self.now)
        self.offset = self.saved
        self.n_groups = self.saved + len(groups)
        self.groups = {}
        self.update()

    def group_start(self, index, n_groups, n_trials, epochs, label, steps=0) -> None:
        self.n_groups = max(self.n_groups, self.offset + n_groups)
        self.clock.group_start(index, n_trials, epochs, steps)
        self.group = self.groups[index] = {"index": index, "trials": n_trials, "epochs": epochs, "epoch": 0,
                                           "per": None, "summary": {}, "seconds": None}
        self.update()

    def _of(self, index) -> dict:
        if index is not None and index in self.groups:
            self.group = self.groups[index]
        return self.group

    def epoch_end(self, epoch, seconds, summary, index=None) -> None:
        self.clock.epoch_end(epoch, seconds, index)
        self._of(index).update(epoch=epoch, per=seconds, summary=dict(summary))
        self.update()

    def group_end(self, seconds, index=None) -> None:
        self.clock.group_end(seconds, index)
        self._of(index)["seconds"] = seconds
        self.update()

    def group_saved(self, index) -> None:
        self.saved += 1  # groups may be saved out of order under a parallel executor
        self._of(index)
        self.update(saved=True)

    def update(self, saved: bool = False) -> None: ...

    def close(self) -> None:
        self.finished = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # text shared by the displays
    def head(self) -> str:
        return f"groups {self.saved}/{self.n_groups}"

    def elapsed(self) -> float:
        return self.clock.elapsed() if self.t0 is None else self.now() - self.t0

    def times(self, sep: str = "  ", elapsed: str = "") -> str:
        eta = 0.0 if self.finished and self.saved == self.n_groups else self.clock.eta()
        return f"{elapsed}{clock_text(self.elapsed())}{sep}eta {clock_text(eta)}"

    def info(self) -> str:
        g = self.group
        if not g:
            return "preparing…"
        text = f"group {self.offset + g['index'] + 1}/{self.n_groups} ({g['trials']} trials): "
        if g["epoch"] == 0:
            return text + "data and compilation…"
        text += f"epoch {g['epoch']}/{g['epochs']}, {per_epoch_text(g['per'])}"
        parts = [f"{k} {v:.4g}" for k, v in g["summary"].items()]
        return text + (", " + ", ".join(parts) if parts else "")


class TerminalProgress(_Tracked):
    """Two lines redrawn in place (Rich ``Live``), fitted to the terminal width."""

    def __init__(self, console=None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=True)
        self.live = Live(get_renderable=self._render, console=self.console, refresh_per_second=4,
                         transient=False, redirect_stdout=False, redirect_stderr=False)
        self._stop_hook = None

    def __enter__(self):
        from sweeplab import _signals

        self.live.start()
        self._stop_hook = _signals.on_hard_exit(self.live.stop)
        return self

    def close(self) -> None:
        super().close()
        if self._stop_hook is not None:
            self._stop_hook()
            self._stop_hook = None
        self.live.stop()

    def update(self, saved: bool = False) -> None:
        self.live.refresh()

    def lines(self, width: int) -> tuple[str, str]:
        """The two lines at ``width`` columns (plain text; the bar is drawn with ━ and ─)."""
        pct = f"{100 * self.clock.fraction():3.0f}%"
        tail = f" {pct}  {self.head()}  {self.times()}"
        bar_w = max(width - len(tail) - 1, 0)
        if bar_w < 8:  # too narrow for a bar: keep the numbers
            return cut(tail.strip(), width), cut("  " + self.info(), width)
        filled = int(round(bar_w * self.clock.fraction()))
        bar = "━" * filled + "─" * (bar_w - filled)
        return bar + tail, cut("  " + self.info(), width)

    def _render(self):
        from rich.text import Text

        width = max(self.console.width - 1, 20)
        first, second = self.lines(width)
        bar_end = first.find(" ")
        t = Text(no_wrap=True, overflow="ellipsis")
        if bar_end > 0 and first[0] in "━─":
            filled = first[:bar_end].count("━")
            t.append(first[:filled], style="bar.complete" if filled < bar_end else "bar.finished")
            t.append(first[filled:bar_end], style="bar.back")
            t.append(first[bar_end:])
        else:
            t.append(first)
        t.append("\n")
        t.append(second, style="dim")
        return t


class PlainProgress(_Tracked):
    """Plain lines for logs and CI: one per saved group, at most one per ``every`` seconds while training."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0, now=time.monotonic) -> None:
        super().__init__(now=now)
        self.stream = stream
        self.every = every
        self._last = now()

    def run_start(self, groups: Sequence[GroupWork]) -> None:
        self._last = self.now()  # training starts now: the first line comes ``every`` seconds later
        super().run_start(groups)

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def update(self, saved: bool = False) -> None:
        t = self.now()
        pct = f"[{100 * self.clock.fraction():3.0f}%]"
        if saved:
            g = self.group
            took = f", {g['seconds']:.1f} s" if g.get("seconds") is not None else ""
            self._write(f"{pct} group {self.saved}/{self.n_groups} saved ({g.get('trials', '?')} trials, "
                        f"{g.get('epoch', 0)} epochs{took}); {self.times(', ', 'elapsed ')}")
            self._last = t
        elif self.group.get("epoch") and t - self._last >= self.every:
            self._write(f"{pct} {self.info()}; {self.times(', ', 'elapsed ')}")
            self._last = t


class NotebookProgress(_Tracked):
    """An HTML ``<progress>`` bar in a Jupyter output cell, updated in place."""

    def __init__(self, min_interval: float = 0.25) -> None:
        super().__init__()
        from IPython.display import HTML, display

        self._HTML = HTML
        self.handle = display(HTML(self._html()), display_id=True)
        self.min_interval = min_interval
        self._last = 0.0

    def _html(self) -> str:
        frac = self.clock.fraction()
        text = html.escape(f"{100 * frac:.0f}%  {self.head()}  {self.times()}")
        info = html.escape(self.info())
        return (f'<div style="font-family: monospace"><progress value="{frac:.4f}" max="1" '
                f'style="width: 40ch"></progress> {text}<br><span style="opacity: .7">{info}</span></div>')

    def update(self, saved: bool = False) -> None:
        t = time.monotonic()
        if saved or self.finished or t - self._last >= self.min_interval:
            self._last = t
            if self.handle is not None:
                self.handle.update(self._HTML(self._html()))

    def close(self) -> None:
        super().close()
        self.update(saved=True)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not in a terminal IPython, not in ``!sweeplab``)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def auto(console=None) -> _Tracked:
    """The display that fits where the output goes: notebook, terminal, or plain lines."""
    if in_notebook():
        try:
            return NotebookProgress()
        except Exception:  # no IPython display machinery: plain lines still work
            return PlainProgress(sys.stdout)
    stream = sys.stderr
    try:
        tty = stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return TerminalProgress(console)
    return PlainProgress()
