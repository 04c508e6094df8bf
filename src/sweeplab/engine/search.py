"""The search driver: ask a sampler for configurations, train them in groups, tell it their values.

A study with ``[search] strategy = "random"`` or ``"tpe"`` runs here (the
CLI's ``run`` and :func:`sweeplab.run` dispatch on it). Each round:

1. ask Optuna's sampler for ``batch`` configurations (a fresh in-memory
   ``optuna.Study``; the sampler is reseeded from ``(seed, round)`` so a round
   asks the same configurations whenever its history is the same);
2. make each configuration's trials with :func:`~sweeplab.spec.expand.expand_one`
   (x repeats x folds) and plan them with :func:`~sweeplab.engine.plan.plan_trials`:
   configurations that differ only in per-trial numbers (learning rate,
   dropout, initializers: ``engine/hparams.py``) share ONE compiled, vmapped group;
3. register them, submit the pending groups to the executor and commit each
   group as it returns (:func:`sweeplab.engine.run.commit_results`: the driver is
   the only writer);
4. read each configuration's value back from the store and tell the sampler:
   the mean over its seeds (and folds) of the validation metric at the last
   epoch (the restored best one when early stopping restores weights), the
   value the report ranks by. A configuration with a pruned trial is told
   ``PRUNED`` with its per-epoch means; one with a diverged trial ``FAIL``.

Resume: the store is the only history. A rerun asks round by round again; a
round whose trials are all in the store trains nothing and tells the stored
values, so the sampler sees exactly the history it saw before and the rounds
after it ask the same configurations as an uninterrupted run would.

Pruning (``[search] pruner``) applies :class:`~sweeplab.engine.pruning.PruneRule`
inside each group at every epoch end, with the per-epoch values of the
finished trials of earlier rounds as reference.

Optuna is imported here only (lazily by the callers): validating or planning
a grid study does not load it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeplab.engine.events import RunStarted
from sweeplab.engine.executor import Executor, GroupTask, LocalExecutor
from sweeplab.engine.plan import _activations, max_trials_for, plan_trials, recorded_metrics
from sweeplab.engine.pruning import PruneRule
from sweeplab.engine.run import RunSummary, commit_results, default_run_dir, listener
from sweeplab.errors import MachineError, UserError
from sweeplab.records import DIVERGED, PRUNED, TrialRecord
from sweeplab.spec.expand import Study, corners, expand_one
from sweeplab.spec.space import Axis
from sweeplab.trial import TrialContext
from sweeplab.vocab.metrics import direction as metric_direction

class MissingPackage(MachineError):
    """A package the search needs is not installed (exit 1)."""


#: configurations per round by default: ``n_trials // ROUNDS`` (TPE learns between rounds)
ROUNDS = 10


@dataclass(frozen=True)
class Objective:
    """What a search optimises: a validation metric (``val_accuracy``) and its direction."""

    metric: str
    maximize: bool

    @property
    def key(self) -> tuple[str, str]:
        """The metric's history key: ``("val", "accuracy")``."""
        return ("val", self.metric.removeprefix("val_"))


@dataclass(frozen=True)
class SearchPlan:
    """What a search study will do (``sweeplab check`` prints it)."""

    strategy: str
    n_trials: int
    batch: int
    seed: int
    objective: Objective
    pruner: str
    axes: tuple[Axis, ...]
    trials_per_config: int

    def lines(self) -> list[str]:
        rounds = math.ceil(self.n_trials / self.batch)
        out = [f"search: {self.strategy}, {self.n_trials} configuration(s) x {self.trials_per_config} trial(s) "
               f"each, asked {self.batch} at a time ({rounds} round(s)), seed {self.seed}",
               f"  optimises: {self.objective.metric} ({'maximize' if self.objective.maximize else 'minimize'}), "
               f"mean over seeds at the last epoch; pruner: {self.pruner}"]
        for a in self.axes:
            what = (f"choice of {len(a.choices)}: {', '.join(map(str, a.choices[:6]))}" if a.kind == "choice"
                    else f"{a.kind}{' (log)' if a.log and a.kind == 'int' else ''} [{a.low:g}, {a.high:g}]")
            out.append(f"  {a.path}: {what}")
        return out


def objective(study: Study, ctx: TrialContext | None = None) -> Objective:
    """The metric a search optimises: ``[search] metric``, else the report's default selection.

    Raises:
        UserError: no validation data, or a metric no epoch records (one line).
    """
    ctx = ctx or TrialContext.from_config(_base_trials(study)[0].config, study.spec.study.seed)
    if not ctx.has_validation:
        raise UserError("field 'search': a search ranks configurations on validation data; accepted: "
                        "set data.validation_split (or train.cross_validation)")
    recorded = recorded_metrics(ctx.model, True)
    search = study.spec.search
    metric = search.metric
    if metric is None:
        metric = next((m for m in ("val_accuracy", "val_f1", "val_loss") if m in recorded), "val_loss")
    elif metric not in recorded:
        raise UserError(f"field 'search.metric': {metric!r} is not recorded; accepted: "
                        f"{', '.join(m for m in recorded if m.startswith('val_'))}")
    maximize = (search.direction == "maximize") if search.direction else metric_direction(metric) == "max"
    return Objective(metric, maximize)


def _base_trials(study: Study) -> list[TrialRecord]:
    return expand_one(study.spec, study.raw, corners(study.space)[0], study.source)


def search_plan(study: Study) -> SearchPlan:
    """The search's rounds, batch size and objective, checked against the data.

    The default batch fills one compiled group: ``n_trials // 10`` configurations (at
    least 1, so the sampler learns over about ten rounds), at most as many as one
    group holds in memory (the largest model of the space decides).

    Raises:
        UserError: the study cannot search (no validation data, unknown metric).
    """
    spec, search = study.spec, study.spec.search
    per_config = len(_base_trials(study))
    fits = []
    for overrides in corners(study.space):
        t = expand_one(spec, study.raw, overrides, study.source)[0]
        ctx = TrialContext.from_config(t.config, spec.study.seed)
        fits.append(max_trials_for(ctx.model.n_params, ctx.batch_size, _activations(ctx.model)))
    batch = search.batch or max(1, min(search.n_trials // ROUNDS, min(fits) // per_config))
    seed = spec.study.seed if search.seed is None else search.seed
    return SearchPlan(search.strategy, search.n_trials, min(batch, search.n_trials), seed, objective(study),
                      search.pruner, study.space, per_config)


# ---------------------------------------------------------------------------- optuna
def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distribution(axis: Axis):
    """The Optuna distribution of one axis (a choice's values are kept as JSON text when not scalars)."""
    d = _optuna().distributions
    if axis.kind == "choice":
        return d.CategoricalDistribution([_choice_key(v) for v in axis.choices])
    if axis.kind == "int":
        return d.IntDistribution(int(axis.low), int(axis.high), log=axis.log)
    return d.FloatDistribution(float(axis.low), float(axis.high), log=axis.log)


def _choice_key(value: Any):
    """Optuna's categorical choices are scalars: a list or table value travels as its JSON text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def overrides_of(params: dict[str, Any], axes: tuple[Axis, ...]) -> dict[str, Any]:
    """A sampled configuration as ``[sweep]`` overrides (in the axes' order, JSON choices decoded)."""
    out = {}
    for a in axes:
        v = params[a.path]
        if a.kind == "choice":
            v = next(c for c in a.choices if _choice_key(c) == v)
        out[a.path] = v
    return out


def sampler(strategy: str, seed: int, round_: int):
    """The sampler of one round, seeded from ``(seed, round)`` so that a round's asks depend only on history."""
    optuna = _optuna()
    rseed = (seed * 1_000_003 + round_) % 2**32
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=rseed)
    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=rseed, multivariate=True, constant_liar=True)
    if strategy == "cmaes":  # its state lives in the (in-memory) study's trials: a fresh sampler resumes it
        try:
            import cmaes  # noqa: F401 - Optuna's CmaEsSampler needs it
        except ImportError as e:
            raise MissingPackage("[search] strategy = \"cmaes\" needs the cmaes package; pip install "
                                 "'sweeplab[search]'") from e
        return optuna.samplers.CmaEsSampler(seed=rseed, warn_independent_sampling=False)
    raise ValueError(f"unknown search strategy {strategy!r}; accepted: random, tpe, cmaes")


# ---------------------------------------------------------------------------- the driver
@dataclass(frozen=True)
class ConfigResult:
    """One asked configuration and what the store says it scored."""

    number: int
    overrides: dict[str, Any]
    trial_ids: tuple[str, ...]
    state: str  # "complete", "pruned" or "fail"
    value: float | None
    curve: tuple[float, ...]  # per-epoch mean over its trials of the objective (epochs all of them ran)


@dataclass(frozen=True)
class SearchSummary(RunSummary):
    """A :class:`~sweeplab.engine.run.RunSummary` with the configurations asked, in order."""

    configs: tuple[ConfigResult, ...] = ()


def run_search(study: Study, run_dir: str | Path | None = None, *, fresh: bool = False, progress=None,
               max_group_size: int | None = None, lock=None, executor: Executor | None = None,
               stop_after_rounds: int | None = None):
    """Search ``study`` into the store at ``run_dir`` (see the module docstring); resumes what is there.

    Args:
        study: a loaded study with ``[search] strategy`` random, tpe or cmaes.
        run_dir, fresh, progress, max_group_size, lock, executor: as :func:`sweeplab.engine.run.run_study`.
        stop_after_rounds: stop after this many rounds (tests; a later call resumes).

    Returns:
        :class:`SearchSummary`: the run's counts and each :class:`ConfigResult`, in ask order.
    """
    from sweeplab.store import RunLock, Store

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(study)
    emit = listener(progress)
    executor = executor if executor is not None else LocalExecutor()
    plan = search_plan(study)  # validates against the data before anything is written
    t0 = time.perf_counter()
    own_lock = lock is None
    lock = RunLock(run_dir) if own_lock else lock
    optuna = _optuna()
    ostudy = optuna.create_study(direction="maximize" if plan.objective.maximize else "minimize")
    dists = {a.path: distribution(a) for a in plan.axes}
    results: list[ConfigResult] = []
    reference: dict[int, list[float]] = {}
    trained = n_groups = 0
    ids: dict[str, None] = {}  # every trial of the search so far, in ask order
    try:
        moved = lock.move_aside() if fresh else None
        with Store(run_dir, lock=lock) as store:
            rounds = math.ceil(plan.n_trials / plan.batch)
            for r in range(rounds if stop_after_rounds is None else min(rounds, stop_after_rounds)):
                ostudy.sampler = sampler(plan.strategy, plan.seed, r)
                asked = [ostudy.ask(dists) for _ in range(min(plan.batch, plan.n_trials - r * plan.batch))]
                configs = [expand_one(study.spec, study.raw, overrides_of(t.params, plan.axes), study.source)
                           for t in asked]
                unique = list({t.trial_id: t for c in configs for t in c}.values())
                planned = plan_trials(unique, study.spec.study.seed, max_group_size=max_group_size)
                store.register(planned.trials)
                ids.update(dict.fromkeys(t.trial_id for t in unique))
                store.set_study(study.name, study.text, json.loads(study.spec.model_dump_json()), list(ids))
                store.reset_trials(store.verify_artifacts([t.trial_id for t in unique]))
                groups = planned.pending(store.finished_ids())
                rule = _rule(study, plan, reference)
                emit(RunStarted(tuple(planned.work_of(groups))))
                for i, g in enumerate(groups):
                    executor.submit(GroupTask(g, study.spec.study.seed, i, len(groups), rule))
                trained += sum(len(d.results) for d in commit_results(executor, store, emit))
                n_groups += len(groups)
                scores = _scores(store, unique, plan.objective)
                for t, trials in zip(asked, configs):
                    results.append(_tell(ostudy, t, trials, scores, plan))
                    _extend_reference(reference, results[-1], trials, scores)
    finally:
        if own_lock:
            lock.release()
    n = len(ids)
    return SearchSummary(run_dir, n, n - trained, trained, n_groups, time.perf_counter() - t0, {}, moved,
                         configs=tuple(results))


def _rule(study: Study, plan: SearchPlan, reference: dict[int, list[float]]) -> PruneRule | None:
    s = study.spec.search
    if s.pruner == "none":
        return None
    return PruneRule(s.pruner, plan.objective.key, plan.objective.maximize, s.min_epochs, s.min_trials,
                     s.reduction_factor, {e: tuple(v) for e, v in reference.items()})


def _scores(store, trials: list[TrialRecord], obj: Objective) -> dict[str, tuple[str, float | None, list[float]]]:
    """``trial_id -> (status, final value, per-epoch values)`` of the objective, read from the store."""
    ids = [t.trial_id for t in trials]
    marks = ", ".join("?" * len(ids))
    out = {}
    for tid, status, final in store.conn.execute(
            f"SELECT trial_id, status, final FROM trials WHERE trial_id IN ({marks})", ids):
        value = (json.loads(final) if final else {}).get(obj.metric)
        out[tid] = (status, None if value is None else float(value), [])
    for tid, value in store.conn.execute(
            f"SELECT trial_id, value FROM epochs WHERE split=? AND metric=? AND trial_id IN ({marks}) "
            "ORDER BY trial_id, epoch", [obj.key[0], obj.key[1], *ids]):
        out[tid][2].append(float("nan") if value is None else float(value))
    return out


def _tell(ostudy, asked, trials: list[TrialRecord], scores, plan: SearchPlan) -> ConfigResult:
    """Tell the sampler one configuration's outcome (see the module docstring) and return it."""
    state_of = _optuna().trial.TrialState
    rows = [scores[t.trial_id] for t in trials]
    n_ep = min(len(c) for _, _, c in rows)
    curve = tuple(sum(c[e] for _, _, c in rows) / len(rows) for e in range(n_ep))
    statuses = {s for s, _, _ in rows}
    values = [v for _, v, _ in rows]
    ids = tuple(t.trial_id for t in trials)
    overrides = dict(trials[0].overrides)
    if DIVERGED in statuses or any(v is None or not math.isfinite(v) for v in values):
        ostudy.tell(asked, state=state_of.FAIL)
        return ConfigResult(asked.number, overrides, ids, "fail", None, curve)
    if PRUNED in statuses:
        for e, v in enumerate(curve):
            if math.isfinite(v):
                asked.report(v, e + 1)
        ostudy.tell(asked, state=state_of.PRUNED)
        return ConfigResult(asked.number, overrides, ids, "pruned", curve[-1] if curve else None, curve)
    value = sum(values) / len(values)
    ostudy.tell(asked, value)
    return ConfigResult(asked.number, overrides, ids, "complete", value, curve)


def _extend_reference(reference: dict[int, list[float]], result: ConfigResult, trials, scores) -> None:
    """Add a finished configuration's per-epoch values (per trial) to the pruning reference."""
    if result.state != "complete":
        return
    for t in trials:
        for e, v in enumerate(scores[t.trial_id][2]):
            if math.isfinite(v):
                reference.setdefault(e + 1, []).append(v)
