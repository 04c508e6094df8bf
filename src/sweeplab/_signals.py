"""Ctrl-C, SIGTERM and SIGHUP for the command line: one clean line, the right exit code.

Python's default Ctrl-C raises ``KeyboardInterrupt`` wherever the main thread
happens to be. Inside JAX that is unsafe: a garbage-collection callback
swallows it ("Exception ignored in ... _xla_gc_callback", the run goes on), and
an exception thrown through nanobind's C++ aborts the process (``terminate
called ... nanobind::python_error``). So the handlers installed here never
raise. They record the signal, and then:

* the main thread raises :class:`Interrupted` at a *safe point*
  (:func:`check`: between phases of a command, at every epoch end and after
  every committed group, through the run's progress callbacks); ``main()``
  catches it, prints the message and exits with 128 + the signal number;
* a watchdog thread covers the stretches without safe points (importing JAX,
  compiling, a long epoch, writing the report): if the main thread has not
  finished within ``grace`` seconds, it prints the same message and ends the
  process with ``os._exit``. That is as safe for the results as a kill: the
  store commits each group in one transaction (a group in flight is rolled
  back by SQLite on the next open), and the watchdog waits while a commit is
  in progress (:func:`begin_critical`). A second signal skips the grace period.

The watchdog is woken through :func:`signal.set_wakeup_fd`, which the
interpreter writes from the C-level handler, so it reacts even while the main
thread is inside a long compiled computation.

Stdlib only: it is installed before Typer, Rich and JAX are imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # not importing typing: this module loads first, and every millisecond counts
if TYPE_CHECKING:
    from typing import Callable

NAMES = ("SIGINT", "SIGTERM", "SIGHUP")


class Interrupted(BaseException):
    """A signal arrived; raised only at a safe point of the main thread.

    A BaseException but not a KeyboardInterrupt, so neither ``except Exception``
    nor Typer (which turns KeyboardInterrupt into a silent ``Exit(130)``) eats it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.raised = False
        self.claimed = False  # the message has been printed (by main or by the watchdog)
        self.critical = 0  # > 0 while a group is being committed
        self.message: Callable[[], str] = lambda: "interrupted"
        self.cleanups: list[Callable[[], None]] = []
        self.lock = threading.Lock()


_state: _State | None = None
GRACE = 1.0  # seconds the main thread has to reach a safe point
CRITICAL_CAP = 60.0  # the longest the watchdog waits for a commit to finish


def installed() -> bool:
    return _state is not None


def install(grace: float | None = None) -> None:
    """Install the handlers and start the watchdog (main thread only; idempotent)."""
    global _state, GRACE
    if grace is not None:
        GRACE = grace
    if _state is not None or threading.current_thread() is not threading.main_thread():
        return
    state = _State()
    r, w = os.pipe()
    os.set_blocking(w, False)
    for name in NAMES:
        sig = getattr(signal, name, None)
        # An inherited "ignore" stays (nohup ignores SIGHUP; a shell ignores SIGINT for background jobs).
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _handler)
    _state = state
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(r,), name="sweeplab-signals", daemon=True).start()


def _handler(signum, frame) -> None:  # never raises: see the module docstring
    state = _state
    if state is not None and state.signum is None:
        state.signum = signum  # the watchdog counts it (one wake-up byte per signal)


def _record(signum: int) -> None:
    state = _state
    assert state is not None
    with state.lock:
        if state.signum is None:
            state.signum = signum
        state.count += 1


def _watch(fd: int) -> None:
    """Wake on each signal byte; end the process if the main thread does not in time."""
    state = _state
    assert state is not None
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        for b in data:
            _record(b)  # the Python-level handler may not have run yet (main thread busy)
        threading.Thread(target=_deadline, daemon=True).start()


_deadline_running = threading.Lock()


def _deadline() -> None:
    """After a signal: give the main thread ``GRACE`` seconds, then end the process."""
    if not _deadline_running.acquire(blocking=False):
        return  # already counting down; it sees the new signal through ``count``
    state = _state
    assert state is not None
    start = time.monotonic()
    while True:
        time.sleep(0.02)
        waited = time.monotonic() - start
        with state.lock:
            urgent = state.count > 1
            if state.claimed:  # main is printing the message and exiting
                if not urgent:
                    _deadline_running.release()
                    return
                if waited > GRACE:  # ... but it hangs, and the user insists
                    os._exit(128 + (state.signum or signal.SIGINT))
                continue
            committing = state.critical > 0 and waited < CRITICAL_CAP
            if (urgent or waited >= GRACE) and not committing:
                state.claimed = True
                break
    _hard_exit(state)


def _hard_exit(state: _State) -> None:
    """Leave now (another thread of the process may be inside compiled code)."""
    for fn in list(state.cleanups):
        t = threading.Thread(target=_quiet(fn), daemon=True)
        t.start()
        t.join(0.5)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # another thread may be writing; the line below goes to the fd directly
            pass
    line = _line(state)
    try:
        os.write(2, line.encode("utf-8", "replace"))
    except OSError:  # SIGHUP: the terminal may be gone
        pass
    os._exit(128 + (state.signum or signal.SIGINT))


def _quiet(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except BaseException:
            pass
    return run


def _line(state: _State) -> str:
    try:
        text = state.message()
    except Exception:  # the message must never be the thing that fails
        text = "interrupted"
    lead = "\n" if _stderr_is_tty() else ""
    return lead + text + "\n" + ("\x1b[?25h" if _stderr_is_tty() else "")  # show the cursor again


def _stderr_is_tty() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def block() -> None:
    """The command is done: ignore the handled signals from now on.

    The interpreter's shutdown (seconds, with JAX) puts the default action back
    for signals that have a Python handler, so a late signal would kill the
    process silently; an ignored one stays ignored (in every thread). A signal
    recorded before this call is still :func:`pending`.
    """
    if _state is None or threading.current_thread() is not threading.main_thread():
        return
    for name in NAMES:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is _handler:
            signal.signal(sig, signal.SIG_IGN)


def pending() -> int | None:
    """The signal received, if any."""
    return _state.signum if _state is not None else None


def check() -> None:
    """A safe point: raise :class:`Interrupted` if a signal arrived (outside a commit)."""
    state = _state
    if state is None or state.signum is None or state.raised or state.critical:
        return
    state.raised = True
    raise Interrupted(state.signum)


def claim() -> bool:
    """The main thread is about to print the message; False if the watchdog already has."""
    state = _state
    if state is None:
        return True
    with state.lock:
        if state.claimed:
            return False
        state.claimed = True
        return True


def message_line() -> str:
    state = _state
    return state.message() if state is not None else "interrupted"


def set_message(fn: Callable[[], str]) -> None:
    """What the interruption line says (called when it is printed, by either thread)."""
    if _state is not None:
        _state.message = fn


def on_hard_exit(fn: Callable[[], None]) -> Callable[[], None]:
    """Register a clean-up (stop a live display) for the watchdog's exit; returns an unregister."""
    if _state is None:
        return lambda: None
    _state.cleanups.append(fn)

    def remove() -> None:
        if fn in _state.cleanups:
            _state.cleanups.remove(fn)
    return remove


def begin_critical() -> None:
    """A stretch the watchdog must not cut (a group's commit) begins."""
    if _state is not None:
        with _state.lock:
            _state.critical += 1


def end_critical() -> None:
    if _state is not None:
        with _state.lock:
            _state.critical = max(0, _state.critical - 1)
