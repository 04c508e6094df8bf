"""The seams search and executors build on: expand_one, one plan per run, the executor
interface, progress as events, TrialContext (one data cache, one data-seed rule)."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sweeplab.cli
import sweeplab.data.pipeline as pipeline
import sweeplab.engine.plan as plan_mod
import sweeplab.engine.run as run_mod
from sweeplab.engine import events
from sweeplab.engine.executor import GroupDone, LocalExecutor
from sweeplab.engine.run import plan, run_study
from sweeplab.spec.expand import expand_one, study_from_text
from sweeplab.trial import TrialContext

STUDY = """
[study]
name = "seams"
seed = 3
repeats = 2
[data]
dataset = "digits"
validation_split = 0.2
[model]
mlp = {{ hidden = [4], activation = "relu" }}
[train]
loss = "sparse_categorical_crossentropy"
batch_size = 256
epochs = {epochs}
{train}
[sweep]
"model.mlp.hidden" = [[4], [6]]
"train.learning_rate" = [0.01, 0.02]
"""


def study(epochs: int = 1, train: str = ""):
    return study_from_text(STUDY.format(epochs=epochs, train=train), "seams.toml")


def _statuses(run_dir: Path) -> dict[str, str]:
    con = sqlite3.connect(f"file:{run_dir / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return dict(con.execute("select trial_id, status from trials"))
    finally:
        con.close()


# ----------------------------------------------------------------------------- expand_one
def test_expand_one_gives_the_records_expand_gives_for_that_configuration():
    s = study(train="cross_validation = 2")
    by_config: dict[str, list] = {}
    for t in s.trials:
        by_config.setdefault(t.config_id, []).append(t)
    assert len(by_config) == 4
    for records in by_config.values():
        assert expand_one(s.spec, s.raw, records[0].overrides, s.source) == records
        assert len(records) == 2 * 2  # repeats x folds


def test_expand_one_reports_the_sweep_value_of_an_invalid_configuration():
    s = study()
    with pytest.raises(ValueError, match=r"\[sweep: train.batch_size = 0\]"):
        expand_one(s.spec, s.raw, {"train.batch_size": 0}, s.source)


# ----------------------------------------------------------------------------- plan once
def _count_planning(monkeypatch) -> list[int]:
    """Count the memory estimates: one per structure group each time a study is planned."""
    calls: list[int] = []
    real = plan_mod.max_trials_for

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    for mod in (plan_mod, run_mod):  # the estimate lived in run.py before the plan did
        monkeypatch.setattr(mod, "max_trials_for", counting, raising=False)
    return calls


def test_the_cli_plans_a_run_once(tmp_path, monkeypatch):
    text = tmp_path / "s.toml"
    text.write_text(STUDY.format(epochs=1, train=""))
    calls = _count_planning(monkeypatch)
    res = CliRunner().invoke(sweeplab.cli.app, ["run", str(text), "--out", str(tmp_path / "r"), "--no-report"])
    assert res.exit_code == 0, res.output
    assert len(calls) == 2, calls  # two structures (hidden 4 and 6), planned once


def test_run_study_plans_once_and_accepts_a_plan(tmp_path, monkeypatch):
    s = study()
    calls = _count_planning(monkeypatch)
    run_study(s, tmp_path / "a")
    assert len(calls) == 2
    planned = plan(s)
    assert len(calls) == 4
    summary = run_study(s, tmp_path / "b", planned=planned)
    assert len(calls) == 4 and summary.n_trained == len(s.trials)


def test_pending_groups_keep_their_keys_and_drop_finished_trials():
    s = study()
    planned = plan(s)
    first = planned.groups[0]
    done = {first.trials[0].trial_id}
    pending = planned.pending(done)
    assert pending[0].key == first.key and len(pending[0].trials) == len(first.trials) - 1
    assert planned.pending({t.trial_id for t in first.trials})[0].key == planned.groups[1].key
    assert [w.trials for w in planned.work_of(pending)] == [len(g.trials) for g in pending]


def test_a_trial_split_off_by_the_memory_budget_records_its_real_group():
    s = study()
    whole = plan(s).groups
    parts = plan(s, budget_bytes=4 * (6 * 200 + 3 * 256 * 80)).groups  # one trial or two per part
    assert len(parts) > len(whole)
    assert any(g.key.endswith("-1") for g in parts)
    for g in parts:
        assert {t.group for t in g.trials} == {g.key}


def test_early_stopping_monitor_is_checked_at_plan_time_not_by_the_memory_split():
    s = study(train='early_stopping = { monitor = "val_f1" }')
    with pytest.raises(ValueError, match="'val_f1' is not recorded"):
        plan(s)
    g = plan(study()).groups[0]
    assert plan_mod.split_by_memory(g, 1)[1].trials[0].group == f"{g.key}-1"  # no data, no checks


# ----------------------------------------------------------------------------- executors
class ReversedExecutor:
    """Trains what it is given in reverse order of submission (results arrive out of order)."""

    def __init__(self) -> None:
        self.tasks, self.cancelled = [], False

    def submit(self, task) -> None:
        self.tasks.append(task)

    def results(self, emit=events.ignore):
        inner = LocalExecutor()
        for task in reversed(self.tasks):
            inner.submit(task)
        yield from inner.results(emit)

    def cancel(self) -> None:
        self.cancelled = True


def test_a_custom_executor_receives_the_groups_and_the_driver_commits_its_results(tmp_path):
    s = study()
    ex = ReversedExecutor()
    seen: list = []
    summary = run_study(s, tmp_path / "r", executor=ex, progress=seen.append)
    planned = plan(s).groups
    assert [t.group for t in ex.tasks] == list(planned)
    assert [t.index for t in ex.tasks] == [0, 1] and {t.n_groups for t in ex.tasks} == {2}
    assert pickle.loads(pickle.dumps(ex.tasks[0])) == ex.tasks[0]  # a task can go to a worker process
    assert summary.n_trained == len(s.trials)
    assert set(_statuses(tmp_path / "r").values()) == {"finished"}
    assert [e.index for e in seen if isinstance(e, events.GroupSaved)] == [1, 0]  # as they completed


class FailingExecutor(LocalExecutor):
    """Yields the first group, then fails (a worker died, a bug in training)."""

    def __init__(self, wrong_results: bool = False) -> None:
        super().__init__()
        self.wrong_results, self.cancelled = wrong_results, False

    def results(self, emit=events.ignore):
        for i, done in enumerate(super().results(emit)):
            if self.wrong_results:  # one trial's result missing
                yield GroupDone(done.task, done.results[1:])
            elif i == 1:
                raise RuntimeError("worker lost")
            else:
                yield done

    def cancel(self) -> None:
        self.cancelled = True
        super().cancel()


@pytest.mark.parametrize("wrong_results", [False, True])
def test_a_failing_executor_leaves_committed_groups_whole_and_nothing_half_written(tmp_path, wrong_results):
    s = study()
    ex = FailingExecutor(wrong_results)
    with pytest.raises(RuntimeError, match="worker lost" if not wrong_results else "nothing of this group"):
        run_study(s, tmp_path / "r", executor=ex)
    assert ex.cancelled
    status = _statuses(tmp_path / "r")
    groups = plan(s).groups
    first = {t.trial_id for t in groups[0].trials}
    if wrong_results:
        assert set(status.values()) == {"pending"}
    else:
        assert {status[t] for t in first} == {"finished"}
        assert {v for k, v in status.items() if k not in first} == {"pending"}
    assert not [p for p in (tmp_path / "r").rglob("*") if ".tmp" in p.name]
    again = run_study(s, tmp_path / "r")  # the rerun trains exactly what is missing
    assert again.n_trained == len(s.trials) - (0 if wrong_results else len(first))
    assert set(_statuses(tmp_path / "r").values()) == {"finished"}


# ----------------------------------------------------------------------------- events
def test_progress_events_are_plain_picklable_records_in_run_order(tmp_path):
    seen: list = []
    run_study(study(epochs=2), tmp_path / "r", progress=seen.append)
    for e in seen:
        assert pickle.loads(pickle.dumps(e)) == e
    kinds = [type(e).__name__ for e in seen]
    per_group = ["GroupStarted", "EpochDone", "EpochDone", "GroupFinished", "GroupSaved"]
    assert kinds == ["RunStarted"] + per_group * 2
    assert [g.trials for g in seen[0].groups] == [4, 4]


def test_a_progress_object_turns_events_into_its_callbacks():
    from sweeplab.engine.progress import GroupWork, Progress

    calls = []

    class Recorder(Progress):
        def run_start(self, groups):
            calls.append(("run_start", groups))

        def group_start(self, index, n_groups, n_trials, epochs, label, steps=0):
            calls.append(("group_start", index, n_groups, n_trials, epochs, label, steps))

        def epoch_end(self, epoch, seconds, summary):
            calls.append(("epoch_end", epoch, seconds, summary))

        def group_end(self, seconds):
            calls.append(("group_end", seconds))

        def group_saved(self, index):
            calls.append(("group_saved", index))

    r = Recorder()
    for e in (events.RunStarted((GroupWork(2, 3, 4),)), events.GroupStarted(0, 1, 2, 3, "g", 4),
              events.EpochDone(0, 1, 0.5, {"loss": 1.0}), events.GroupFinished(0, 2.0), events.GroupSaved(0)):
        r(e)
    assert calls == [("run_start", [GroupWork(2, 3, 4)]), ("group_start", 0, 1, 2, 3, "g", 4),
                     ("epoch_end", 1, 0.5, {"loss": 1.0}), ("group_end", 2.0), ("group_saved", 0)]


# ----------------------------------------------------------------------------- TrialContext
def test_trial_context_data_seed_is_the_data_seed_else_the_study_seed():
    t = study().trials[0]
    assert TrialContext.from_config(t.config, 7).data_seed == 7
    fixed = {**t.config, "data": {**t.config["data"], "seed": 11}}
    ctx = TrialContext.from_config(fixed, 7)
    assert ctx.data_seed == 11 and ctx.data.description.endswith("data seed 11")
    assert ctx.data is TrialContext.from_config(fixed, 99).data  # the study seed does not matter then


def test_one_data_cache_reads_a_dataset_once_for_its_variants(monkeypatch):
    reads = []
    real = pipeline.load_raw

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_raw", counting)
    pipeline.clear_cache()
    try:
        t = study().trials[0]
        a = TrialContext.from_config(t.config, 0)
        assert TrialContext.from_config(t.config, 0).data is a.data  # prepared once
        other = {**t.config, "data": {**t.config["data"], "validation_split": 0.5}}
        b = TrialContext.from_config(other, 0)
        assert len(b.data.train) < len(a.data.train)
        assert len(reads) == 1  # the files were read once for both variants
    finally:
        pipeline.clear_cache()


def test_models_do_not_import_the_engine_or_the_inference_facade_eagerly():
    code = (
        "import sys\n"
        "import sweeplab.models.layers\n"
        "import sweeplab.models.summary, sweeplab.models.model\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('sweeplab.engine', 'sweeplab.trial', 'sweeplab.spec', 'sweeplab.inference')))\n"
        "assert not bad, bad\n"
        "from sweeplab.trial import model_for\n"
        "from sweeplab.spec.expand import study_from_text\n"
        "s = study_from_text('[study]\\nname = \"m\"\\n[data]\\ndataset = \"digits\"\\n[model]\\n"
        "mlp = { hidden = [4] }\\n[train]\\nloss = \"sparse_categorical_crossentropy\"\\n')\n"
        "assert model_for(s.trials[0].config).n_params == 64 * 4 + 4 + 4 * 10 + 10\n"
        "bad = sorted(m for m in sys.modules if m.startswith('sweeplab.engine'))\n"
        "assert not bad, bad\n"
    )
    src = str(Path(sweeplab.cli.__file__).resolve().parents[1])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": src, "JAX_PLATFORMS": "cpu"})
    assert res.returncode == 0, res.stderr


def test_an_object_with_only_the_progress_callbacks_still_listens():
    class Duck:  # not a Progress subclass, not callable: what sweeplab.run accepted before events
        def __init__(self):
            self.saved = []

        def group_saved(self, index):
            self.saved.append(index)

    duck = Duck()
    emit = run_mod._listener(duck)
    emit(events.GroupSaved(3))
    assert duck.saved == [3]
    assert run_mod._listener(None) is events.ignore
