"""The Ray executor on a real local cluster (a head and two worker nodes on 127.0.0.1, started
with ``ray start``): the same stored results as in-process training, and a worker node killed
mid-run has its group retried elsewhere, every group committed once.

Skipped only when Ray is not installed (``pip install 'sweeplab[ray]'``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is not installed: pip install 'sweeplab[ray]' runs these tests")
if not Path("/proc/self/task").exists():  # pragma: no cover
    pytest.skip("the cluster helper finds Ray's processes in /proc (Linux)", allow_module_level=True)

from ray_cluster import Cluster  # noqa: E402
from test_executors import EPOCHS, N_GROUPS, N_TRIALS, assert_same, rows, stored, study  # noqa: E402

from sweeplab.engine import events  # noqa: E402
from sweeplab.engine.executor import LocalExecutor  # noqa: E402
from sweeplab.engine.executor_ray import RayExecutor  # noqa: E402
from sweeplab.engine.run import run_study  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "JAX_PLATFORMS": "cpu"}
    c = Cluster(env, workers=2, cpus=1)
    try:
        yield c
    finally:
        c.stop()
        assert not c.pids(), "Ray processes left behind"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    s = study(tmp)
    run_study(s, tmp / "r", executor=LocalExecutor())
    return s, stored(tmp / "r")


def test_a_ray_cluster_stores_what_in_process_training_stores(tmp_path, cluster, local_run):
    s, want = local_run
    seen: list = []
    with RayExecutor(cluster.address) as ex:
        summary = run_study(s, tmp_path / "r", executor=ex, progress=seen.append)
    assert summary.n_trained == N_TRIALS
    assert_same(stored(tmp_path / "r"), want)
    for i in range(N_GROUPS):  # the workers' events reached the driver
        assert sum(isinstance(e, events.EpochDone) and e.index == i for e in seen) == EPOCHS


def test_a_killed_worker_node_has_its_group_retried_and_every_group_is_committed_once(tmp_path, cluster,
                                                                                      local_run):
    s, want = local_run
    seen: list = []

    def kill_a_node(event) -> None:  # every group started and one epoch done: kill -9 worker node 1
        seen.append(event)
        started = {e.index for e in seen if isinstance(e, events.GroupStarted)}
        if isinstance(event, events.EpochDone) and len(started) == N_GROUPS and not cluster.killed:
            cluster.killed = True
            cluster.kill_node(0)

    cluster.killed = False
    with RayExecutor(cluster.address) as ex:
        summary = run_study(s, tmp_path / "r", executor=ex, progress=kill_a_node)
    assert cluster.killed
    assert summary.n_trained == N_TRIALS
    assert rows(tmp_path / "r") == (N_TRIALS, N_TRIALS, 0)  # every trial once, no epoch twice
    assert sum(isinstance(e, events.GroupStarted) for e in seen) > N_GROUPS  # a group ran again
    assert sum(isinstance(e, events.GroupSaved) for e in seen) == N_GROUPS
    assert_same(stored(tmp_path / "r"), want)


# ----------------------------------------------------------------------------- a group that fails on Ray
def _run_cli(tmp_path, monkeypatch, cluster, train_remote, max_retries: int = 3):
    """``sweeplab run`` on the cluster with ``train_remote`` as the Ray task (and ``max_retries``)."""
    from typer.testing import CliRunner

    from sweeplab import cli
    from sweeplab.engine import executor, executor_ray

    study(tmp_path)  # writes study.toml
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(executor_ray, "_train_remote", train_remote)
    monkeypatch.setattr(executor, "make_executor",
                        lambda *a, **kw: RayExecutor(cluster.address, max_retries=max_retries))
    return CliRunner().invoke(cli.app, ["run", "study.toml", "--out", "r", "--no-report",
                                        "--executor", "ray", "--address", cluster.address])


def _one_error_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors == result.output.strip().splitlines()[-1:], result.output
    return errors[0]


def test_a_group_ray_gives_up_on_is_one_line_exit_1_and_the_saved_groups_stay(tmp_path, monkeypatch, cluster):
    db = str(tmp_path / "r" / "results.sqlite")

    def dies_on_group_2(task, queue):  # a closure: Ray ships it by value to the workers
        import os
        import sqlite3
        import time

        from sweeplab.engine.executor import train_task

        if task.index == 1:  # once another group is committed, its worker process dies (each try)
            end = time.monotonic() + 120
            while time.monotonic() < end:
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                        if c.execute("SELECT COUNT(*) FROM trials WHERE status='finished'").fetchone()[0]:
                            break
                except sqlite3.Error:
                    pass
                time.sleep(0.2)
            os._exit(1)
        return train_task(task)

    result = _run_cli(tmp_path, monkeypatch, cluster, dies_on_group_2, max_retries=1)
    assert result.exit_code == 1, result.output
    line = _one_error_line(result)
    assert line.startswith("error: study.toml: group 2 of 3 (") and "Ray could not run it (" in line, line
    assert "tried 2 time(s)" in line and "run the same command again to resume" in line, line
    n, finished, dup = rows(tmp_path / "r")
    assert n == N_TRIALS and finished in (2, 4) and dup == 0  # whole groups; group 2's trials not among them


def test_a_group_that_raises_a_sweeplab_error_on_ray_is_its_one_line(tmp_path, monkeypatch, cluster):
    def no_data_on_group_2(task, queue):
        from sweeplab.engine.executor import train_task
        from sweeplab.errors import UserError

        if task.index == 1:  # as if that node had no copy of the data: sweeplab's own error, raised there
            raise UserError("data.dataset: 'digits': no copy on this node; accepted: a dataset in $SWEEPLAB_DATA")
        return train_task(task)

    result = _run_cli(tmp_path, monkeypatch, cluster, no_data_on_group_2)
    assert result.exit_code == 2, result.output
    assert _one_error_line(result) == ("error: study.toml: data.dataset: 'digits': no copy on this node; "
                                       "accepted: a dataset in $SWEEPLAB_DATA")
    n, finished, dup = rows(tmp_path / "r")
    assert n == N_TRIALS and finished % 2 == 0 and finished < N_TRIALS and dup == 0
