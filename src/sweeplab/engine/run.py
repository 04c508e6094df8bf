"""The driver: plan groups, skip finished trials, train, commit each group.

Only this process writes the results store. Each group is committed in one
transaction after it trains, so a run killed at any moment loses at most
the group in flight, and running the study again resumes from there.

The study is planned (and so validated against its data) before the store
is created: a study that cannot run leaves nothing in the run directory.
A resume re-verifies the files of finished trials (size and sha256) and
trains again those that are damaged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sweeplab.engine.plan import Group, check_folds, check_trial_fits, max_trials_for, plan_groups
from sweeplab.errors import UserError
from sweeplab.engine.progress import Progress, plan_work
from sweeplab.engine.trainer import _prepared, data_seed, train_group, trial_spec
from sweeplab.models.model import build_model
from sweeplab.spec.expand import Study


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    n_trials: int
    n_skipped: int
    n_trained: int
    n_groups: int
    seconds: float
    #: trials whose saved files were damaged and that were trained again: ``{trial_id: reason}``
    repaired: dict = field(default_factory=dict)
    #: where ``fresh=True`` moved the earlier results (``<run_dir>.old-<time>``), or None
    moved_aside: Path | None = None


def default_run_dir(study: Study) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study.name)
    return Path("runs") / safe


def split_by_memory(groups: list[Group], study_seed: int, budget_bytes: int | None = None) -> list[Group]:
    """Split groups whose trials would not fit the memory budget together."""
    out = []
    for g in groups:
        cfg = g.trials[0].config
        spec = trial_spec(cfg)
        prepared = _prepared(json.dumps(cfg["data"], sort_keys=True), data_seed(cfg, study_seed))
        model = build_model(spec.model, spec.train, prepared.heads, prepared.input_shape)
        has_val = (prepared.val is not None or bool(spec.train.cross_validation)
                   or (spec.data.validation_data == "test" and prepared.test is not None))
        for t in g.trials:
            check_monitor(trial_spec(t.config).train.early_stopping, model, has_val)
        n = prepared.train.x.shape[0]
        bs = n if spec.train.batch_size == "full" else min(int(spec.train.batch_size), n)
        acts = sum(_size(node.out_shape) for node in model.nodes())
        check_trial_fits(model.n_params, bs, acts)
        check_folds(spec.train.cross_validation, prepared)
        limit = max_trials_for(model.n_params, bs, acts, **({"budget_bytes": budget_bytes} if budget_bytes else {}))
        if len(g.trials) <= limit:
            out.append(g)
            continue
        for i in range(0, len(g.trials), limit):
            out.append(Group(f"{g.key}-{i // limit}", g.trials[i:i + limit]))
    return out


def recorded_metrics(model, has_val: bool) -> list[str]:
    """The epoch metric names a trial of ``model`` records (Keras History names)."""
    names = ["loss"] + ([] if model.single else [f"{h.name}_loss" for h in model.heads])
    names += [model.metric_name(h, m) for h in model.heads for m in h.metrics]
    return names + ([f"val_{n}" for n in names] if has_val else [])


def check_monitor(es, model, has_val: bool) -> None:
    """Reject an early-stopping monitor that no epoch records (it would never stop a trial)."""
    if es is None:
        return
    names = recorded_metrics(model, has_val)
    if es.monitor not in names:
        why = "" if has_val or not es.monitor.startswith("val_") else \
            " (there is no validation data: set data.validation_split or train.cross_validation)"
        raise UserError(f"field 'train.early_stopping.monitor': {es.monitor!r} is not recorded{why}; "
                         f"recorded: {', '.join(names)}")


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def plan(study: Study, done: set[str] | frozenset = frozenset(), max_group_size: int | None = None,
         budget_bytes: int | None = None) -> list[Group]:
    todo = [t for t in study.trials if t.trial_id not in done]
    groups = plan_groups(todo, max_group_size)
    return split_by_memory(groups, study.spec.study.seed, budget_bytes)


def run_study(study: Study, run_dir: str | Path | None = None, *, fresh: bool = False,
              progress: Progress | None = None, max_group_size: int | None = None, lock=None) -> RunSummary:
    """Train every unfinished trial of ``study`` into the store at ``run_dir``.

    Args:
        study: the loaded study.
        run_dir: the run directory (default ``runs/<study name>``).
        fresh: move the earlier contents of ``run_dir`` aside to
            ``<run_dir>.old-<UTC time>`` (nothing is deleted) and start over.
        progress: progress callbacks.
        max_group_size: at most this many trials per compiled group.
        lock: a :class:`sweeplab.store.RunLock` already held on ``run_dir``
            (the CLI takes it before reading which trials are finished, so no
            other process can start in between); default: taken here.

    Raises:
        sweeplab.store.StoreError: the store is damaged, or another process writes ``run_dir``.
        sweeplab.store.StoreEnvironmentError: disk full, read-only directory.
        ValueError: the study does not fit its data (found before anything is written).
    """
    from sweeplab.store import RunLock, Store

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(study)
    progress = progress or Progress()
    t0 = time.perf_counter()
    own_lock = lock is None
    lock = RunLock(run_dir) if own_lock else lock
    try:
        planned = plan(study, max_group_size=max_group_size)  # validates; nothing written yet
        moved = lock.move_aside() if fresh else None
        ids = [t.trial_id for t in study.trials]
        with Store(run_dir, lock=lock) as store:
            store.register([t for g in planned for t in g.trials])
            store.set_study(study.name, study.text, json.loads(study.spec.model_dump_json()), ids)
            repaired = store.verify_artifacts(ids)
            store.reset_trials(repaired)
            done = store.finished_ids()
            groups = plan(study, done, max_group_size=max_group_size)
            trained = 0
            progress.run_start(plan_work(groups, study.spec.study.seed))
            for i, g in enumerate(groups):
                results = train_group(list(g.trials), study_seed=study.spec.study.seed, progress=progress,
                                      index=i, n_groups=len(groups), label=g.label)
                store.commit_group(results)
                progress.group_saved(i)
                trained += len(results)
    finally:
        if own_lock:
            lock.release()
    n = len(study.trials)
    return RunSummary(run_dir, n, n - trained, trained, len(groups), time.perf_counter() - t0, repaired, moved)
