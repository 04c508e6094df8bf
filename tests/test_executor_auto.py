"""``--executor auto``: one process or a worker process per core, chosen from the planned groups.

The choice itself is a time model (``engine/cost.py``, fitted to measurements in
``benchmarks/README.md``): these tests pin its decisions on the shapes that were
measured (many small-step groups -> workers; one group of large steps -> one
process; one core -> one process), that a parallel executor gets the longest
groups first, that a split group trains the same trials to the same results, and
that a worker pool serves several runs in a row.
"""

from __future__ import annotations


import pytest

from sweeplab.engine import cost
from sweeplab.engine.events import GroupWork
from sweeplab.engine.executor import LocalExecutor, resolve
from sweeplab.engine.executor_processes import ProcessExecutor
from sweeplab.engine.run import run_study
from sweeplab.errors import UserError
from test_executors import N_TRIALS, assert_same, local_run, rows, stored, study  # noqa: F401 (fixture)

# Planned groups of seed000's studies (trials, epochs, steps per epoch, forward multiply-adds of one
# trial's batch): 784-H-10 MLPs at batch 32 on 36,000 training images.
SMALL = [GroupWork(3, 100, 1125, (784 * h + h * 10) * 32) for h in (16, 32, 64, 128)]  # hidden-units
BEST = GroupWork(3, 80, 1125, (784 * 300 + 3000) * 32)  # 784-300-10, one group


def test_many_small_step_groups_get_a_worker_per_core():
    c = cost.choose(SMALL, n_cores=2)
    assert c.name == "processes" and c.workers == 2
    assert c.parallel_seconds < 0.85 * c.local_seconds
    assert not c.split
    assert "4 groups" in c.line() and "faster than one process" in c.line()


def test_one_group_of_large_steps_stays_in_one_process_with_every_core():
    c = cost.choose([BEST], n_cores=2)
    assert c.name == "local"
    assert c.line() == "local (one group; a part of it per worker would not be faster)"  # 2 + 1 trials


def test_one_core_or_nothing_to_plan_is_local():
    assert cost.choose(SMALL, n_cores=1).name == "local"
    assert cost.choose([], n_cores=8).name == "local"


def test_a_big_group_of_small_steps_is_split_so_every_worker_has_a_part():
    big = GroupWork(9, 100, 1125, (784 * 64 + 640) * 32)  # seed000-activation: 9 trials, one group
    c = cost.choose([big], n_cores=2)
    assert c.name == "processes" and c.split == (5,)


def test_a_tiny_study_is_not_worth_starting_workers():
    tiny = [GroupWork(2, 3, 20, 800 * 64)] * 3
    assert cost.choose(tiny, n_cores=2).name == "local"


def test_makespan_is_the_longest_first_schedule():
    assert cost.makespan([2, 3, 4, 3], 2) == 6  # 4+2 | 3+3
    assert cost.makespan([3, 3, 2, 2, 2], 2) == 7  # greedy, not optimal (3+3 | 2+2+2 would be 6)
    assert cost.makespan([5, 1, 1], 2) == 5
    assert cost.makespan([1.0], 4) == 1.0


def test_auto_options_are_checked_like_the_others():
    with pytest.raises(UserError, match="^address: x:1: only for the ray executor"):
        resolve("auto", SMALL, address="x:1")
    with pytest.raises(UserError, match="^workers: 0: "):
        resolve("auto", SMALL, workers=0)
    ex, choice = resolve("auto", SMALL, workers=1)  # one worker: nothing to share out
    assert isinstance(ex, LocalExecutor) and choice.name == "local"
    ex, choice = resolve("local", SMALL)
    assert isinstance(ex, LocalExecutor) and choice is None


class Recording(LocalExecutor):
    """Trains in this process but says it trains 2 groups at once: records the submission order."""

    concurrency = 2

    def __init__(self):
        super().__init__()
        self.order: list[str] = []

    def submit(self, task):
        self.order.append(task.group.trials[0].config["model"]["mlp"]["hidden"][0])
        super().submit(task)


def test_a_parallel_executor_gets_the_longest_groups_first(tmp_path, local_run):
    s, want = local_run
    ex = Recording()
    summary = run_study(s, tmp_path / "r", executor=ex)
    assert ex.order == [16, 12, 8]  # the study's order is 8, 16, 12; widest (most work) first
    assert summary.n_trained == N_TRIALS
    assert_same(stored(tmp_path / "r"), want)


def test_auto_with_split_groups_trains_every_trial_once_to_the_same_results(tmp_path, local_run, monkeypatch):
    """Force the workers (no start-up cost, any gain) and a split: results equal in-process training."""
    s, want = local_run
    monkeypatch.setattr(cost, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(cost, "AUTO_MIN_GAIN", -10.0)
    real = cost.choose

    def split_everything(work, n_cores=None):
        c = real(work, n_cores=2)
        return cost.Choice("processes", 2, c.local_seconds, c.parallel_seconds, "forced",
                           tuple(1 for _ in work))

    monkeypatch.setattr(cost, "choose", split_everything)
    seen = []
    summary = run_study(s, tmp_path / "r", executor="auto", on_choice=seen.append)
    assert [c.name for c in seen] == ["processes"] and summary.executor_choice is seen[0]
    assert summary.n_trained == N_TRIALS and summary.n_groups == N_TRIALS  # every group cut in 1-trial parts
    assert_same(stored(tmp_path / "r"), want)
    assert rows(tmp_path / "r") == (N_TRIALS, N_TRIALS, 0)


def test_a_worker_pool_trains_several_runs_in_a_row(tmp_path, local_run):
    """A pool reused by a second run (as ``sweeplab reproduce`` could) yields that run's groups too."""
    s, want = local_run
    with ProcessExecutor(1) as ex:
        first = run_study(s, tmp_path / "a", executor=ex)
        second = run_study(s, tmp_path / "b", executor=ex)
    assert first.n_trained == second.n_trained == N_TRIALS
    assert_same(stored(tmp_path / "b"), want)


def test_the_cli_says_which_executor_auto_chose(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sweeplab import cli
    from test_executors import STUDY

    (tmp_path / "study.toml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["run", "study.toml", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "executor: local (3 groups; a worker per core would not be faster)" in result.output \
        or "executor: local (one core)" in result.output, result.output
