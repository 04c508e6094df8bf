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
