"""Planning: which trials share one compiled program (a *group*).

Trials whose configurations differ only in per-trial values (seed, fold, and
every parameter its registry declares ``per_trial``: learning rate and other
optimizer hyperparameters, dropout rates, hidden activations, initializers;
early-stopping settings) share one XLA program and train together under
``jax.vmap``. Everything else (architecture, output activations, optimizer kind,
batch size, epochs, data) is structure, and separates groups. The rule lives in
``engine/hparams.py``. Groups larger than a memory budget are split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from sweeplab.engine.cost import model_macs
from sweeplab.engine.hparams import PER_TRIAL, split_config  # noqa: F401  (PER_TRIAL: re-exported)
from sweeplab.engine.progress import GroupWork, steps_per_epoch
from sweeplab.errors import UserError
from sweeplab.records import TrialRecord
from sweeplab.trial import TrialContext
DEFAULT_BUDGET_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Group:
    """Trials that train together in one compiled program."""

    key: str
    trials: tuple[TrialRecord, ...]

    @property
    def label(self) -> str:
        return self.key[:10]


def structure(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a trial config that decides the compiled program (see ``engine/hparams.py``)."""
    return split_config(config)[0]


def group_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(structure(config), sort_keys=True).encode()).hexdigest()[:16]


def plan_groups(trials: Iterable[TrialRecord], max_group_size: int | None = None) -> list[Group]:
    """Partition trials into groups, keeping study order; split groups above ``max_group_size``."""
    by_key: dict[str, list[TrialRecord]] = {}
    keys: dict[str, str] = {}  # a configuration's seeds and folds share its config: split it once
    seen: dict[int, tuple[dict, str]] = {}  # ... and its config object: serialise that once, too
    for t in trials:
        hit = seen.get(id(t.config))
        if hit is None or hit[0] is not t.config:
            blob = json.dumps(t.config, sort_keys=True, default=str)
            if blob not in keys:
                keys[blob] = group_key(t.config)
            hit = seen[id(t.config)] = (t.config, keys[blob])
        by_key.setdefault(hit[1], []).append(t)
    groups = []
    for key, members in by_key.items():
        size = max_group_size or len(members)
        for i in range(0, len(members), size):
            chunk = members[i:i + size]
            label = key if len(members) <= size else f"{key}-{i // size}"
            groups.append(Group(label, tuple(_with_group(t, label) for t in chunk)))
    return groups


def _with_group(t: TrialRecord, label: str) -> TrialRecord:
    return TrialRecord(t.trial_id, t.config, t.overrides, t.config_id, t.seed, t.repeat, t.fold, label)


def max_trials_for(n_params: int, batch_size: int, activations_per_example: int,
                   budget_bytes: int = DEFAULT_BUDGET_BYTES) -> int:
    """How many trials of one model fit the memory budget.

    Per trial: parameters, gradients, up to three optimizer slots and a best-weights
    copy (6 x params), plus forward activations kept for the backward pass.
    """
    per_trial = trial_bytes(n_params, batch_size, activations_per_example)
    return max(1, int(budget_bytes // max(per_trial, 1)))


def trial_bytes(n_params: int, batch_size: int, activations_per_example: int) -> int:
    """Estimated memory of one training trial (float32): 6 x params + 3 x a batch's activations."""
    return 4 * (6 * n_params + 3 * batch_size * activations_per_example)


def memory_budget_bytes() -> int:
    """The most memory one trial may need: the machine's physical memory (16 GiB if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 1024**3


def check_trial_fits(n_params: int, batch_size: int, activations_per_example: int,
                     budget_bytes: int | None = None) -> None:
    """Refuse, at plan time, a model whose single trial cannot fit memory.

    Raises:
        ValueError: naming the estimated bytes and the budget (the CLI shows one line, exit 2).
    """
    need = trial_bytes(n_params, batch_size, activations_per_example)
    budget = budget_bytes or memory_budget_bytes()
    if need > budget:
        raise UserError(f"model: one trial needs about {_bytes(need)} ({n_params:,} parameters, batches of "
                         f"{batch_size:,} x {activations_per_example:,} activations), more than the "
                         f"{_bytes(budget)} memory budget; use smaller layers or batches")


def check_folds(k: int | None, prepared) -> None:
    """Refuse, at plan time, more cross-validation folds than the training data allows.

    Every fold needs a validation sample; stratified folds (classification) need
    one sample of every class per fold, so ``k`` is at most the smallest class count.

    Raises:
        ValueError: naming the folds, the samples and the most folds accepted.
    """
    if not k:
        return
    n = int(prepared.train.x.shape[0])
    if k > n:
        raise UserError(f"field 'train.cross_validation': {k} folds but only {n} training samples; "
                         f"accepted: 2..{n}")
    (head, info), = list(prepared.heads.items())[:1]
    if info.kind != "regression":
        labels, counts = np.unique(np.asarray(prepared.train.y[head]), return_counts=True)
        i = int(np.argmin(counts))
        if k > counts[i]:
            raise UserError(f"field 'train.cross_validation': {k} stratified folds but class {labels[i]} has "
                             f"only {counts[i]} training samples; accepted: 2..{counts[i]}")


def _bytes(n: int) -> str:
    for unit, scale in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


# ---------------------------------------------------------------------------- a run's plan
@dataclass(frozen=True)
class Plan:
    """A study's groups, checked against their data: made once per run (iterates over ``groups``).

    Attributes:
        groups: every trial of the study, in study order; each record's ``group``
            is the key of the group it trains in (memory splits included).
        work: the work of each whole group, by group key.
    """

    groups: tuple[Group, ...]
    work: Mapping[str, GroupWork]

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    @property
    def trials(self) -> list[TrialRecord]:
        return [t for g in self.groups for t in g.trials]

    def pending(self, done: Iterable[str] = ()) -> list[Group]:
        """The groups left to train: trials in ``done`` removed, emptied groups dropped, keys kept."""
        done = set(done)
        out = []
        for g in self.groups:
            todo = tuple(t for t in g.trials if t.trial_id not in done)
            if todo:
                out.append(g if len(todo) == len(g.trials) else Group(g.key, todo))
        return out

    def work_of(self, groups: Iterable[Group]) -> list[GroupWork]:
        """The work of ``groups`` (groups of this plan, possibly with fewer trials)."""
        return [dataclasses.replace(self.work[g.key], trials=len(g.trials)) for g in groups]


def plan_trials(trials: Iterable[TrialRecord], study_seed: int, *, max_group_size: int | None = None,
                budget_bytes: int | None = None) -> Plan:
    """Group ``trials``, check each group against its data, split groups over the memory budget.

    Prepares each group's data once (cached) to learn the model and the batch shapes.

    Raises:
        ValueError: a group does not fit its data or the memory (one line, before anything is written).
    """
    groups: list[Group] = []
    work: dict[str, GroupWork] = {}
    for g in plan_groups(trials, max_group_size):
        ctx = TrialContext.from_config(g.trials[0].config, study_seed)
        check_group(ctx, g.trials)
        train = ctx.spec.train
        limit = max_trials_for(ctx.model.n_params, ctx.batch_size, _activations(ctx.model),
                               **({"budget_bytes": budget_bytes} if budget_bytes else {}))
        steps = steps_per_epoch(len(ctx.data.train), train.batch_size, train.cross_validation)
        macs = model_macs(ctx.model) * ctx.batch_size
        for part in split_by_memory(g, limit):
            groups.append(part)
            work[part.key] = GroupWork(len(part.trials), int(train.epochs), steps, macs)
    return Plan(tuple(groups), work)


def split_by_memory(group: Group, limit: int) -> list[Group]:
    """``group`` in parts of at most ``limit`` trials (keys ``<key>-0``, ``<key>-1``...), records relabelled."""
    if len(group.trials) <= limit:
        return [group]
    parts = []
    for i in range(0, len(group.trials), limit):
        key = f"{group.key}-{i // limit}"
        parts.append(Group(key, tuple(_with_group(t, key) for t in group.trials[i:i + limit])))
    return parts


def split_groups(groups: list[Group], work: list[GroupWork], limits) -> tuple[list[Group], list[GroupWork]]:
    """``groups`` with group ``i`` cut in parts of at most ``limits[i]`` trials (None: kept whole), and their work.

    Parts are made as :func:`split_by_memory` makes them; a trial trains the same in any part.
    """
    out_g, out_w = [], []
    for g, w, limit in zip(groups, work, limits):
        for part in split_by_memory(g, limit) if limit else [g]:
            out_g.append(part)
            out_w.append(dataclasses.replace(w, trials=len(part.trials)))
    return out_g, out_w


def check_group(ctx: TrialContext, trials: Iterable[TrialRecord]) -> None:
    """Refuse, at plan time, a group that cannot train: see the ``check_*`` functions.

    ``ctx`` is the context of the group's first trial (the group shares its data and shapes).

    Raises:
        ValueError: one line naming the field, the value and what is accepted.
    """
    for t in trials:
        es = t.config["train"].get("early_stopping")
        check_monitor(es and es.get("monitor"), ctx.model, ctx.has_validation)
    check_trial_fits(ctx.model.n_params, ctx.batch_size, _activations(ctx.model))
    check_folds(ctx.spec.train.cross_validation, ctx.data)


def _activations(model) -> int:
    """Activations of one example through the trunk (kept for the backward pass)."""
    return sum(math.prod(node.out_shape) for node in model.nodes())


def recorded_metrics(model, has_val: bool) -> list[str]:
    """The epoch metric names a trial of ``model`` records (Keras History names)."""
    names = ["loss"] + ([] if model.single else [f"{h.name}_loss" for h in model.heads])
    names += [model.metric_name(h, m) for h in model.heads for m in h.metrics]
    return names + ([f"val_{n}" for n in names] if has_val else [])


def check_monitor(monitor: str | None, model, has_val: bool) -> None:
    """Reject an early-stopping monitor that no epoch records (it would never stop a trial)."""
    if monitor is None:
        return
    names = recorded_metrics(model, has_val)
    if monitor not in names:
        why = "" if has_val or not monitor.startswith("val_") else \
            " (there is no validation data: set data.validation_split or train.cross_validation)"
        raise UserError(f"field 'train.early_stopping.monitor': {monitor!r} is not recorded{why}; "
                         f"recorded: {', '.join(names)}")
