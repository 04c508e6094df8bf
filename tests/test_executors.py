"""The process-pool executor: the same stored results as in-process training, a killed worker's
group retried elsewhere (nothing lost or duplicated), Ctrl-C on the driver ends the workers and
keeps the committed groups.

Every test here starts spawned worker processes (each imports JAX and compiles), so they are few
and their studies tiny.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from sweeplab.engine import events
from sweeplab.engine.executor import GroupTask, LocalExecutor, make_executor
from sweeplab.engine.executor_processes import ProcessExecutor, core_sets
from sweeplab.engine.plan import Group
from sweeplab.engine.run import run_study
from sweeplab.errors import UserError
from sweeplab.spec.expand import load_study

STUDY = """\
[study]
name = "executors"
seed = 3
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
epochs = 3
[sweep]
"model.mlp.hidden" = [[8], [16], [12]]
"""
N_GROUPS, N_TRIALS, EPOCHS = 3, 6, 3


def study(tmp: Path):
    p = tmp / "study.toml"
    p.write_text(STUDY)
    return load_study(p)


def stored(run_dir: Path) -> dict:
    """Everything a run stored that does not depend on timing: per trial its status, history and parameters."""
    from sweeplab.store import load

    with load(run_dir) as run:
        trials = run.trials.set_index("trial_id")
        epochs = run.epochs
        out = {}
        for tid in trials.index:
            h = epochs[epochs.trial_id == tid].sort_values(["epoch", "split", "metric"])
            out[tid] = {
                "status": trials.loc[tid, "status"],
                "history": h[["epoch", "split", "metric", "value"]].to_numpy(),
                "params": run.params(tid),
            }
        return out


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for tid in a:
        x, y = a[tid], b[tid]
        assert x["status"] == y["status"] == "finished"
        assert (x["history"][:, :3] == y["history"][:, :3]).all(), tid
        np.testing.assert_allclose(x["history"][:, 3].astype(float), y["history"][:, 3].astype(float),
                                   rtol=1e-5, atol=1e-6)
        assert sorted(x["params"]) == sorted(y["params"])
        for k in x["params"]:
            np.testing.assert_allclose(x["params"][k], y["params"][k], rtol=1e-5, atol=1e-6)


def rows(run_dir: Path) -> tuple[int, int, int]:
    """(trial rows, distinct finished trials, epoch rows per (trial, epoch, split, metric) > 1)."""
    with sqlite3.connect(run_dir / "results.sqlite") as c:
        n = c.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        fin = c.execute("SELECT COUNT(DISTINCT trial_id) FROM trials WHERE status = 'finished'").fetchone()[0]
        dup = c.execute("SELECT COUNT(*) FROM (SELECT 1 FROM epochs GROUP BY trial_id, epoch, split, metric "
                        "HAVING COUNT(*) > 1)").fetchone()[0]
    return n, fin, dup


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    s = study(tmp)
    run_study(s, tmp / "r", executor=LocalExecutor())
    return s, stored(tmp / "r")


def test_one_worker_process_stores_what_in_process_training_stores(tmp_path, local_run):
    s, want = local_run
    seen: list = []
    with ProcessExecutor(1) as ex:
        summary = run_study(s, tmp_path / "r", executor=ex, progress=seen.append)
    assert summary.n_trained == N_TRIALS
    assert_same(stored(tmp_path / "r"), want)
    # The workers' events reach the driver's listener: every group started, ran its epochs, was saved.
    kinds = [(type(e).__name__, getattr(e, "index", None)) for e in seen]
    for i in range(N_GROUPS):
        assert ("GroupStarted", i) in kinds and ("GroupSaved", i) in kinds
        assert sum(k == ("EpochDone", i) for k in kinds) == EPOCHS


def test_a_killed_worker_has_its_group_retried_and_nothing_is_lost_or_duplicated(tmp_path, local_run):
    s, want = local_run
    ex = ProcessExecutor(2)
    killed: list[int] = []

    def kill_in_flight(event) -> None:  # the first epoch of group 0 done: kill -9 its worker
        if isinstance(event, events.EpochDone) and event.index == 0 and not killed:
            w = next(w for w in ex._workers if w.task is not None and w.task.index == 0)
            killed.append(w.proc.pid)
            os.kill(w.proc.pid, signal.SIGKILL)

    with ex:
        summary = run_study(s, tmp_path / "r", executor=ex, progress=kill_in_flight)
    assert killed and ex.deaths == 1
    assert summary.n_trained == N_TRIALS
    assert rows(tmp_path / "r") == (N_TRIALS, N_TRIALS, 0)
    assert_same(stored(tmp_path / "r"), want)  # the retried group trained from the start, identically


def test_a_failing_group_raises_its_error_in_the_driver_and_the_workers_end(tmp_path):
    s = study(tmp_path)
    t = s.trials[0]
    bad = dataclasses.replace(t, config={**t.config, "data": {**t.config["data"], "dataset": "nope"}})
    task = GroupTask(Group("k", (bad,)), s.spec.study.seed, 0, 1)
    local = LocalExecutor()
    local.submit(task)
    with pytest.raises(Exception, match="unknown dataset 'nope'") as in_process:
        list(local.results())
    ex = ProcessExecutor(1)
    ex.submit(task)
    with pytest.raises(in_process.type, match="unknown dataset 'nope'"):  # the worker's exception, as it was
        list(ex.results())
    procs = [w.proc for w in ex._workers]
    ex.cancel()
    assert procs and not ex._workers and all(not p.is_alive() for p in procs)


def test_core_sets_split_the_cores_without_overlap():
    assert core_sets(2, [0, 1]) == [[0], [1]]
    assert core_sets(2, [0, 1, 2]) == [[0, 1], [2]]
    assert core_sets(1, [4, 5]) == [[4, 5]]
    assert core_sets(3, [0, 1]) == [None, None, None]  # more workers than cores: no pinning


@pytest.mark.parametrize("name, kw, field", [("threads", {}, "executor"), ("local", {"workers": 2}, "workers"),
                                             ("processes", {"workers": 0}, "workers"),
                                             ("processes", {"address": "x:1"}, "address")])
def test_make_executor_refuses_bad_names_and_options(name, kw, field):
    with pytest.raises(UserError, match=f"^{field}: "):
        make_executor(name, **kw)


# ----------------------------------------------------------------------------- Ctrl-C on the driver
def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie waiting for its (re)parent counts as gone


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc (Linux)")
def test_ctrl_c_on_the_driver_ends_the_workers_and_keeps_the_committed_groups(tmp_path):
    from test_cli_signals import Run, _finished, _interrupted

    (tmp_path / "study.toml").write_text(STUDY.replace("epochs = 3", "epochs = 300"))
    run = Run(tmp_path, "r", "--no-report", "--executor", "processes", "--workers", "2")
    assert run.wait_for(r"group \d/3 saved")
    workers = _children(run.p.pid)
    assert len(workers) >= 2  # the two workers (and maybe multiprocessing's helper)
    run.send(signal.SIGINT)
    rc, out, err = run.finish()
    saved, of = _interrupted(rc, err, signal.SIGINT)
    assert of == N_GROUPS and 1 <= saved < N_GROUPS
    assert _finished(tmp_path / "r") == 2 * saved  # whole groups only
    assert rows(tmp_path / "r")[2] == 0
    end = time.monotonic() + 10
    while not all(_gone(p) for p in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert all(_gone(p) for p in workers), [p for p in workers if not _gone(p)]


@pytest.mark.parametrize("args, line, code", [
    (["--executor", "threads"], "error: --executor: 'threads': accepted: auto, local, processes, ray", 2),
    (["--executor", "local", "--workers", "2"],
     "error: --workers: 2: only for the processes executor (a Ray cluster has its own)", 2),
    (["--address", "x:1"], "error: --address: x:1: only for the ray executor", 2),
    (["--executor", "ray", "--address", "127.0.0.1:1"],
     "error: --address: 127.0.0.1:1: cannot connect to the Ray cluster", 1),
    (["--executor", "ray", "--address", "127.0.0.1"], "error: --address: 127.0.0.1: accepted: auto, HOST:PORT", 2),
    (["--executor", "ray", "--address", "head:port"], "error: --address: head:port: accepted: auto, HOST:PORT", 2),
])
def test_run_refuses_a_bad_executor_in_one_line(tmp_path, monkeypatch, args, line, code):
    from typer.testing import CliRunner

    from sweeplab import cli

    if code == 1:  # nothing listens on port 1: refused at once (ray.init itself retries for minutes)
        pytest.importorskip("ray")
    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["run", "study.toml", "--no-report", *args])
    assert result.exit_code == code, result.output
    assert result.output.strip().splitlines()[-1].startswith(line), result.output
    if code == 2:
        assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_the_interrupt_line_counts_groups_saved_out_of_order():
    # Under a parallel executor group 3 can be saved first: "1 of 3 saved", not "3 of 3" (the old index + 1).
    from sweeplab import cli
    from sweeplab.engine.progress import GroupWork, Progress

    safe = cli._SafePoints(Progress())
    safe.run_start([GroupWork(2, 3, 10)] * 3)
    safe.group_saved(2)
    assert safe.message().startswith("interrupted: 1 of 3 groups saved")
    safe.group_saved(0)
    assert safe.message().startswith("interrupted: 2 of 3 groups saved")


def test_the_progress_display_counts_groups_saved_out_of_order():
    import io

    from sweeplab.engine.progress import GroupWork
    from sweeplab.progress import PlainProgress

    display = PlainProgress(io.StringIO())
    display.run_start([GroupWork(2, 3, 10)] * 3)
    display.group_saved(2)
    assert display.saved == 1 and "groups 1/3" in display.head()


# ----------------------------------------------------------------------------- a group that keeps failing
def _dies_on_group_2(conn, *args) -> None:
    """A worker (``_worker_main`` in the spawned process) that dies as it receives group 2 (index 1)."""
    from sweeplab.engine import executor_processes as ep

    class Conn:
        def recv(self):
            msg = conn.recv()
            if msg is not None and msg.index == 1:
                os._exit(7)
            return msg

        def __getattr__(self, name):
            return getattr(conn, name)

    ep._worker_main(Conn(), *args)


def test_a_group_whose_worker_always_dies_is_one_line_exit_1_and_the_saved_groups_stay(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sweeplab import cli
    from sweeplab.engine import executor_processes

    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    worker_main = executor_processes._worker_main
    monkeypatch.setattr(executor_processes, "_worker_main", _dies_on_group_2)  # what the driver spawns
    result = CliRunner().invoke(cli.app, ["run", "study.toml", "--out", "r", "--no-report",
                                          "--executor", "processes", "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors == result.output.strip().splitlines()[-1:], result.output
    assert errors[0].startswith("error: study.toml: group 2 of 3 (") and "died 4 times" in errors[0]
    assert "the groups saved before are kept: run the same command again to resume" in errors[0]
    assert rows(tmp_path / "r") == (N_TRIALS, 2, 0)  # group 1 committed (one worker: in order), whole
    monkeypatch.setattr(executor_processes, "_worker_main", worker_main)
    again = CliRunner().invoke(cli.app, ["run", "study.toml", "--out", "r", "--no-report"])
    assert again.exit_code == 0 and "trained 4, skipped 2 finished" in again.output, again.output
    assert rows(tmp_path / "r") == (N_TRIALS, N_TRIALS, 0)
