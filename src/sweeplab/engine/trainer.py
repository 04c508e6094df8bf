"""Train one group: data on the device, compiled epochs, early stopping, results.

Python runs once per epoch of a group: it reads the accumulated metrics
(small arrays), records history, flags diverged trials, applies early
stopping per trial and reports progress. Everything per batch is compiled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from sweeplab.engine.events import EpochDone, Emit, GroupFinished, GroupStarted, ignore
from sweeplab.engine.hparams import HP, program_key, static_opt_params, trial_hps
from sweeplab.engine.program import GroupProgram, ProgramSpec, host
from sweeplab.models.model import Model
from sweeplab.records import DIVERGED, FINISHED, PRUNED, TrialRecord, TrialResult
from sweeplab.trial import TrialContext
from sweeplab.vocab.metrics import direction, metric_from_confusion, metric_from_sums


@dataclass
class _TrialState:
    record: TrialRecord
    history: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    status: str = FINISHED
    active: bool = True
    diverged_epoch: int | None = None
    stopped_epoch: int | None = None
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0


# ---------------------------------------------------------------------------- data
def _folds(prepared, k: int, seed: int):
    """(train_idx, val_idx) per fold, equalised to the smallest fold (drops at most one sample)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = prepared.train.x.shape[0]
    (head, info), = list(prepared.heads.items())[:1]
    y = prepared.train.y[head]
    if info.kind != "regression":
        splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y))
    else:
        splits = list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n)))
    ntr = min(len(a) for a, _ in splits)
    nva = min(len(b) for _, b in splits)
    return [(a[:ntr], b[:nva]) for a, b in splits]


# ---------------------------------------------------------------------------- metrics
def epoch_metrics(model: Model, stats: dict, n: int) -> dict[str, float]:
    """Keras-style metric values from one trial's accumulated sums."""
    out: dict[str, float] = {}
    total = 0.0
    for head in model.heads:
        st = stats[head.name]
        loss = float(st["loss"]) / max(n, 1)
        total += head.loss_weight * loss
        if not model.single:
            out[f"{head.name}_loss"] = loss
        for m in head.metrics:
            if head.kind == "regression":
                val = metric_from_sums(m, n, float(st["abs"]), float(st["sq"]))
            else:
                val = metric_from_confusion(m, np.asarray(st["cm"]))
            out[model.metric_name(head, m)] = val
    out["loss"] = total
    return out


def _slice(tree, i):
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def flatten_params(params: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for layer, leaves in params.items():
        for name, arr in leaves.items():
            flat[f"{prefix}{layer}/{name}"] = np.asarray(arr)
    return flat


# ---------------------------------------------------------------------------- early stopping
def _mode(es) -> str:
    if es.mode != "auto":
        return es.mode
    return direction(es.monitor)


def _monitor_value(es, metrics_train, metrics_val) -> float | None:
    name = es.monitor
    if name.startswith("val_"):
        return metrics_val.get(name[4:]) if metrics_val else None
    return metrics_train.get(name)


def _early_stop(ts: _TrialState, es, value: float | None, epoch: int) -> bool:
    """Keras EarlyStopping.on_epoch_end for one trial; True when the trial improved."""
    if es is None or value is None or epoch <= es.start_from_epoch:
        return False
    mode = _mode(es)
    better = ts.best is None or (value + es.min_delta < ts.best if mode == "min" else value - es.min_delta > ts.best)
    if better:
        ts.best, ts.best_epoch, ts.wait = value, epoch, 0
        return True
    ts.wait += 1
    if ts.wait >= es.patience and epoch > 1:
        ts.active = False
        ts.stopped_epoch = epoch
    return False


# ---------------------------------------------------------------------------- the group
_PROGRAMS: dict[Any, GroupProgram] = {}


def program_for(model: Model, spec: ProgramSpec) -> GroupProgram:
    """The compiled program of a group model (see ``hparams.group_model``), cached by structure."""
    key = (program_key(model), spec)
    if key not in _PROGRAMS:
        _PROGRAMS.clear()  # keep one program alive: compiled executables hold memory
        _PROGRAMS[key] = GroupProgram(model, spec)
    return _PROGRAMS[key]


@dataclass
class _Rows:
    """Which rows each trial trains and validates on."""

    train_idx: np.ndarray  # (trials, n_train) indices into the training split
    val_idx: np.ndarray | None  # (trials, n_val) held-out fold rows, for cross-validation
    n_train: int
    batch_size: int
    whole_split: bool  # one batch of the whole training split, in stored order


def _rows(trials, prepared, train, dseed: int) -> _Rows:
    """Training rows: the train split, or each cross-validation fold's part of it."""
    n = prepared.train.x.shape[0]
    if train.cross_validation:
        folds = _folds(prepared, train.cross_validation, dseed)
        tr_idx = np.stack([folds[t.fold][0] for t in trials])
        va_idx = np.stack([folds[t.fold][1] for t in trials])
    else:
        tr_idx, va_idx = np.broadcast_to(np.arange(n), (len(trials), n)), None
    n_tr = tr_idx.shape[1]
    bs = n_tr if train.batch_size == "full" else min(int(train.batch_size), n_tr)
    return _Rows(tr_idx, va_idx, n_tr, bs, whole_split=bs == n_tr == n and va_idx is None)


def _validation(program, data, rows: _Rows, prepared, X, Y, hp: HP):
    """``(validate(params, state) -> sums, n_val)``, or ``(None, 0)`` without validation data."""
    if rows.val_idx is not None:
        idx = jnp.asarray(rows.val_idx, jnp.int32)
        return (lambda p, s: program.evaluate_idx(p, s, hp, idx, X, Y)[0]), rows.val_idx.shape[1]
    split = prepared.test if data.validation_data == "test" else prepared.val
    if split is None or split.x.shape[0] == 0:
        return None, 0
    Xv, Yv = jnp.asarray(split.x), {h: jnp.asarray(v) for h, v in split.y.items()}
    return (lambda p, s: program.evaluate(p, s, hp, Xv, Yv)[0]), split.x.shape[0]


def _record_epoch(states, model, acc, val, n_tr, n_va, steps, es, epoch) -> np.ndarray:
    """Append one epoch to every active trial's history; flag divergence; early stopping.

    Returns which trials improved their monitored value (for restore_best_weights).
    """
    improved = np.zeros(len(states), bool)
    for i, ts in enumerate(states):
        if not ts.active:
            continue
        m_tr = epoch_metrics(model, _slice(acc["stats"], i), n_tr)
        m_va = epoch_metrics(model, _slice(val, i), n_va) if val is not None else {}
        for k, v in m_tr.items():
            ts.history.setdefault(("train", k), []).append(v)
        for k, v in m_va.items():
            ts.history.setdefault(("val", k), []).append(v)
        for layer, leaves in acc.get("grad", {}).items():
            for name, v in leaves.items():  # summed over the steps: report the mean per step
                ts.history.setdefault(("grad", f"{layer}/{name}"), []).append(float(v[i]) / steps)
        if not bool(acc["finite"][i]) or not np.isfinite(m_tr["loss"]):
            ts.status, ts.active, ts.diverged_epoch = DIVERGED, False, epoch
            continue
        if es[i] is not None:
            improved[i] = _early_stop(ts, es[i], _monitor_value(es[i], m_tr, m_va), epoch)
    return improved


@dataclass
class _Setup:
    """Everything one group trains with, prepared before the first epoch."""

    trials: list[TrialRecord]
    train: Any  # TrainSpec of the group (structure: equal for every trial)
    es: list  # each trial's EarlyStoppingSpec or None
    prepared: Any
    model: Model  # the group's compiled model (per-trial values replaced)
    models: list[Model]  # each trial's own model (its initializers)
    rows: _Rows
    program: GroupProgram
    hp: HP  # stacked per-trial values
    X: jax.Array
    Y: dict[str, jax.Array]
    validate: Any  # validate(params, state) -> sums, or None
    n_val: int
    first_order: jax.Array | None = None  # shuffle = "once": epoch 1's order, reused

    def epoch_order(self, shufflers) -> jax.Array:
        """Each trial's row order for one epoch, padded to whole batches (padding is masked).

        ``shuffle = "once"`` draws epoch 1's permutation and reuses it every epoch."""
        if self.first_order is not None:
            return self.first_order
        rows = self.rows
        out = np.zeros((len(self.trials), self.program.steps * rows.batch_size), np.int32)
        for i, rng in enumerate(shufflers):
            idx = rows.train_idx[i]
            out[i, :rows.n_train] = idx[rng.permutation(rows.n_train)] if self.train.shuffle else idx
        order = jnp.asarray(out)
        if self.train.shuffle == "once":
            self.first_order = order
        return order


def _setup_group(trials: list[TrialRecord], study_seed: int) -> _Setup:
    """Data, models, rows, the compiled program and the per-trial values of one group."""
    contexts = [TrialContext.from_config(t.config, study_seed) for t in trials]
    specs = [c.spec for c in contexts]
    data, train = specs[0].data, specs[0].train
    dseed = contexts[0].data_seed
    prepared = contexts[0].data
    models = [c.model for c in contexts]
    model, hp = trial_hps([t.config for t in trials], models)
    rows = _rows(trials, prepared, train, dseed)
    if rows.whole_split:
        # Images stay uint8 on the device and are converted inside each step; a full batch
        # would convert the whole split every epoch, so keep that one as float32 instead.
        prepared = contexts[0].with_storage("float32")
    spec = ProgramSpec(batch_size=rows.batch_size, n_train=rows.n_train, shuffle=bool(train.shuffle),
                       gradient_norms=train.gradient_norms, eval_batch_size=train.eval_batch_size,
                       affine=tuple(float(a) for a in prepared.affine), optimizer=train.optimizer,
                       static_opt_params=static_opt_params(trials[0].config), whole_split=rows.whole_split)
    program = program_for(model, spec)
    X, Y = jnp.asarray(prepared.train.x), {h: jnp.asarray(v) for h, v in prepared.train.y.items()}
    validate, n_val = _validation(program, data, rows, prepared, X, Y, hp)
    return _Setup(trials, train, [sp.train.early_stopping for sp in specs], prepared, model, models, rows,
                  program, hp, X, Y, validate, n_val)


def _prune(states, rule, epoch: int) -> None:
    """Stop the trials a search's pruning rule (:mod:`sweeplab.engine.pruning`) names after ``epoch``."""
    values = [s.history.get(rule.metric, [None])[-1] if s.active else None for s in states]
    for s, stop in zip(states, rule.prune(epoch, values)):
        if stop:
            s.status, s.active = PRUNED, False


def _train_loop(g: _Setup, emit: Emit, index: int, prune=None):
    """Train every epoch: returns ``(params, state, trial states, epoch seconds)``."""
    trials, program, es = g.trials, g.program, g.es
    shufflers = [np.random.default_rng([t.seed, t.fold or 0, 0x5EED]) for t in trials]
    keys = jnp.stack([jax.random.PRNGKey(t.seed) for t in trials])
    init_keys, keys = jax.vmap(lambda k: jax.random.split(k))(keys).transpose(1, 0, 2)
    params, state, opt_state = program.init(init_keys, g.hp, g.models)
    states = [_TrialState(t) for t in trials]
    restore = any(e is not None and e.restore_best_weights for e in es)
    if restore:
        best_params, best_state = jax.tree_util.tree_map(jnp.copy, (params, state))

    epoch_seconds: list[float] = []
    for epoch in range(1, g.train.epochs + 1):
        t0 = time.perf_counter()
        active = jnp.asarray([s.active for s in states])
        params, state, opt_state, keys, acc = program.epoch(
            params, state, opt_state, keys, active, g.hp, g.epoch_order(shufflers), g.X, g.Y)
        acc, val = host((acc, g.validate(params, state) if g.validate is not None else None))
        epoch_seconds.append(time.perf_counter() - t0)
        improved = _record_epoch(states, g.model, acc, val, g.rows.n_train, g.n_val, program.steps, es, epoch)
        if prune is not None and epoch < g.train.epochs:  # the last epoch has nothing left to save
            _prune(states, prune, epoch)
        if restore and improved.any():
            mask = jnp.asarray(improved)
            best_params, best_state = _select(mask, params, best_params), _select(mask, state, best_state)
        emit(EpochDone(index, epoch, epoch_seconds[-1], _summary(states)))
        if not any(s.active for s in states):
            break

    if restore:  # Keras restores the best weights of the trials that early stopping ended
        mask = jnp.asarray([bool(e and e.restore_best_weights and s.stopped_epoch and s.best_epoch)
                            for e, s in zip(es, states)])
        params, state = _select(mask, best_params, params), _select(mask, best_state, state)
    return params, state, states, epoch_seconds


def train_group(trials: list[TrialRecord], *, study_seed: int, emit: Emit = ignore,
                index: int = 0, n_groups: int = 1, label: str = "", prune=None) -> list[TrialResult]:
    """Train every trial of one group together and return their results.

    Progress goes to ``emit`` as events (:mod:`sweeplab.engine.events`). ``prune``: a search's
    :class:`~sweeplab.engine.pruning.PruneRule`, applied at every epoch end.
    """
    g = _setup_group(trials, study_seed)
    emit(GroupStarted(index, n_groups, len(trials), g.train.epochs, label, steps=g.program.steps))
    t_group = time.perf_counter()
    params, state, states, epoch_seconds = _train_loop(g, emit, index, prune)
    results = _finish(g.program, g.model, g.prepared, trials, states, params, state, g.hp, epoch_seconds)
    emit(GroupFinished(index, time.perf_counter() - t_group))
    return results


@jax.jit
def _select(mask, new, old):
    def sel(a, b):
        m = mask.reshape((-1,) + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree_util.tree_map(sel, new, old)


def _summary(states) -> dict[str, float]:
    losses = [s.history.get(("train", "loss"), [np.nan])[-1] for s in states if s.status != DIVERGED]
    vals = [s.history[("val", "loss")][-1] for s in states if ("val", "loss") in s.history and s.status != DIVERGED]
    out = {"active": sum(s.active for s in states)}
    if losses:
        out["loss"] = float(np.nanmedian(losses))
    if vals:
        out["val_loss"] = float(np.nanmedian(vals))
    return out


def _finish(program, model, prepared, trials, states, params, state, hp: HP, epoch_seconds):
    test_stats, proba = {}, {}
    n_te = 0 if prepared.test is None else prepared.test.x.shape[0]
    if n_te:
        Xt = jnp.asarray(prepared.test.x)
        Yt = {h: jnp.asarray(v) for h, v in prepared.test.y.items()}
        test_stats, proba = program.predict(params, state, hp, Xt, Yt)
        test_stats, proba = host((test_stats, proba))
    params_h, state_h = host((params, state))
    first = epoch_seconds[0] if epoch_seconds else 0.0
    rest = epoch_seconds[1:]
    compile_s = max(0.0, first - float(np.median(rest))) if rest else 0.0
    results = []
    for i, (t, ts) in enumerate(zip(trials, states)):
        test, confusion, preds = {}, {}, {}
        if n_te and ts.status != DIVERGED:
            test = epoch_metrics(model, _slice(test_stats, i), n_te)
            for head in model.heads:
                p = proba[head.name][i]
                y = prepared.test.y[head.name]
                preds[f"y_true/{head.name}"] = np.asarray(y)
                if head.kind != "regression":  # probabilities for classifiers; values for regression
                    preds[f"proba/{head.name}"] = p.astype(np.float32)
                    cm = np.asarray(test_stats[head.name]["cm"][i]).round().astype(int)
                    confusion[head.name] = cm.tolist()
                    preds[f"y_pred/{head.name}"] = (p.argmax(-1) if p.shape[-1] > 1 else (p[:, 0] > 0.5)).astype(np.int32)
                else:
                    preds[f"y_pred/{head.name}"] = (p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p).astype(np.float32)
            preds["index"] = np.arange(n_te, dtype=np.int32)
        final = {}
        for (split, metric), values in ts.history.items():
            if split in ("train", "val") and values:
                pos = (ts.best_epoch - 1) if (ts.best_epoch and ts.stopped_epoch and _restored(t)) else -1
                final[f"{split}_{metric}"] = values[pos]
        flat = flatten_params(_slice(params_h, i))
        flat.update(flatten_params(_slice(state_h, i), prefix="state:"))
        results.append(TrialResult(
            trial_id=t.trial_id, status=ts.status, epochs_run=len(ts.history.get(("train", "loss"), [])),
            history=ts.history, test=test, final=final, confusion=confusion, epoch_seconds=list(epoch_seconds),
            compile_seconds=compile_s, n_params=model.n_params, diverged_epoch=ts.diverged_epoch,
            stopped_epoch=ts.stopped_epoch, best_epoch=ts.best_epoch, params=flat, predictions=preds or None))
    return results


def _restored(t: TrialRecord) -> bool:
    es = t.config["train"].get("early_stopping")
    return bool(es and es.get("restore_best_weights"))
