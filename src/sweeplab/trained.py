"""Trained models out of a run: ``run.model()``, ``run.models()``, ``run.ensemble()``.

    >>> run = sweeplab.load("runs/mnist")
    >>> model = run.model()                      # first seed of the best configuration
    >>> (_, _), (x_test, y_test) = sweeplab.datasets.load("mnist", raw=True)
    >>> model.predict(x_test[:5])                # (5, 10) probabilities
    >>> model.evaluate(x_test, y_test)           # {"loss": ..., "accuracy": ...}

Inputs (raw uint8 or prepared floats, told apart by dtype) are checked and
prepared by :mod:`sweeplab.model_inputs`; see docs/models.md.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from sweeplab.model_inputs import ModelInputError, RawLookingInputWarning, describe, prepare_input, shape_text
from sweeplab.preprocessing import Preprocessing, preprocessing_for, raw_test_split

__all__ = ["Ensemble", "ModelInputError", "RawLookingInputWarning", "TrainedModel", "from_run", "models_from_run"]


class TrainedModel:
    """One trained trial: its configuration, parameters and preprocessing.

    Args:
        config: the trial's stored configuration (``data``, ``model``, ``train``).
        params: its stored parameters (flat ``"layer/name"`` arrays, as in the run directory).
        trial_id: the trial's id (for ``repr`` and reports).
        study_seed: the study's ``[study] seed`` (the data seed when ``data.seed`` is unset).
        run_dir: the run directory it came from (informative).
    """

    def __init__(self, config: dict, params: dict[str, np.ndarray], *, trial_id: str | None = None,
                 study_seed: int = 0, run_dir=None):
        self.config = config
        self.trial_id = trial_id
        self.run_dir = run_dir
        self.study_seed = int(study_seed)
        self._flat = {k: np.asarray(v) for k, v in params.items()}

    def __repr__(self) -> str:
        heads = ", ".join(f"{h.name}: {h.kind}" for h in self.network.heads)
        return (f"TrainedModel(trial {self.trial_id!r}, {self.preprocessing.dataset}, "
                f"input {shape_text(self.input_shape)}, {heads}, {self.network.n_params:,} parameters)")

    # ------------------------------------------------------------------ structure
    @functools.cached_property
    def network(self):
        """The sweeplab :class:`~sweeplab.models.model.Model` (layers, heads)."""
        from sweeplab.trial import model_for

        return model_for(self.config, self.study_seed)

    @functools.cached_property
    def preprocessing(self) -> Preprocessing:
        return preprocessing_for(self.config, self.study_seed)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.network.input_shape)

    @property
    def heads(self) -> list[str]:
        return [h.name for h in self.network.heads]

    @property
    def class_names(self) -> dict[str, list[str] | None]:
        """Class names per head (None for a regression head)."""
        return class_names(self.config, self.study_seed)

    @functools.cached_property
    def params(self) -> tuple[dict, dict]:
        """``(params, state)`` pytrees ``{layer: {name: array}}``."""
        from sweeplab.inference import split_params

        return split_params(self._flat)

    def summary(self, print_fn=None) -> None:
        """Print a Keras-style summary (layer, output shape, parameters) headed by the
        preprocessing; ``print_fn`` receives the text instead (as in Keras)."""
        from sweeplab.models.summary import summary_text

        pre = self.preprocessing
        text = (f"trial {self.trial_id}: {pre.dataset}, input {shape_text(self.input_shape)}, "
                f"preprocessing: {describe(pre)}\n{summary_text(self.network)}")
        (print_fn or print)(text)

    # ------------------------------------------------------------------ inputs
    def prepare(self, x, *, raw: bool | None = None) -> np.ndarray:
        """``x`` (raw or prepared, see the module doc) -> float32 network inputs."""
        return prepare_input(self.preprocessing, x, raw=raw)

    @functools.cached_property
    def _forward(self):
        import jax

        net = self.network
        p, s = self.params
        return jax.jit(lambda xb: net.apply(p, s, xb)[0])

    def logits(self, x, *, raw: bool | None = None, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Pre-activation outputs per head (inputs as :meth:`predict`)."""
        import jax

        xp = self.prepare(x, raw=raw)
        parts = [jax.device_get(self._forward(xp[i:i + batch_size])) for i in range(0, len(xp), batch_size)]
        if not parts:
            return {h.name: np.zeros((0, h.units), np.float32) for h in self.network.heads}
        return {h: np.concatenate([np.asarray(part[h]) for part in parts]) for h in parts[0]}

    # ------------------------------------------------------------------ Keras-like API
    def predict_heads(self, x, *, raw: bool | None = None, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Outputs after each head's activation, ``{head: (n, units)}``."""
        from sweeplab.vocab.activations import ACTIVATIONS

        z = self.logits(x, raw=raw, batch_size=batch_size)
        return {h.name: np.asarray(ACTIVATIONS.get(h.activation).obj(z[h.name]), np.float32)
                for h in self.network.heads}

    def predict(self, x, *, raw: bool | None = None, batch_size: int = 1024):
        """Probabilities (classifiers) or values (regression), like Keras's ``predict``:
        an ``(n, units)`` array, or ``{head: array}`` for a model with several heads."""
        return _one_or_dict(self.predict_heads(x, raw=raw, batch_size=batch_size), self.network)

    def predict_classes(self, x, *, raw: bool | None = None):
        """Class indices (classifier heads; a regression head gives its values)."""
        return _one_or_dict(classes_of(self.network, self.predict_heads(x, raw=raw)), self.network)

    def evaluate(self, x, y, *, raw: bool | None = None) -> dict[str, float]:
        """Loss and metrics with Keras names (``loss``, ``accuracy``; ``hour_accuracy``... per head).

        ``y``: the targets, an array (one head) or ``{head: array}``; class indices for
        classifiers (also for a ``categorical_crossentropy`` model), values for regression.
        """
        from sweeplab.vocab.activations import ACTIVATIONS

        z = self.logits(x, raw=raw)
        outs = {h.name: np.asarray(ACTIVATIONS.get(h.activation).obj(z[h.name]), np.float32)
                for h in self.network.heads}
        return evaluate_outputs(self.network, outs, y, logits=z)

    def test_data(self, *, raw: bool = True):
        """The run's own test split: ``(x, y)``; ``x`` raw (default) or prepared, ``y`` an
        array (one head) or ``{head: array}``."""
        x, y = raw_test_split(self.config, self.study_seed)
        if not raw:
            x = self.preprocessing.apply(x)
        return x, _one_or_dict(y, self.network)


class Ensemble:
    """Several trained models whose outputs are averaged (probabilities, or values for
    regression heads). Same ``predict``/``predict_classes``/``evaluate`` as :class:`TrainedModel`."""

    def __init__(self, members: list[TrainedModel]):
        if not members:
            raise ValueError("an ensemble needs at least one model")
        self.members = list(members)
        first = members[0]
        for m in members[1:]:
            if m.heads != first.heads or m.input_shape != first.input_shape:
                raise ValueError(f"ensemble: trial {m.trial_id} has other heads or input shape than {first.trial_id}")

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} models: {', '.join(str(m.trial_id) for m in self.members)})"

    @property
    def network(self):
        return self.members[0].network

    @property
    def config(self) -> dict:
        return self.members[0].config

    @property
    def trial_ids(self) -> list[str]:
        return [m.trial_id for m in self.members]

    def predict_heads(self, x, *, raw: bool | None = None, batch_size: int = 1024) -> dict[str, np.ndarray]:
        outs = [m.predict_heads(x, raw=raw, batch_size=batch_size) for m in self.members]
        return {h: np.mean([o[h] for o in outs], axis=0).astype(np.float32) for h in outs[0]}

    def predict(self, x, *, raw: bool | None = None, batch_size: int = 1024):
        return _one_or_dict(self.predict_heads(x, raw=raw, batch_size=batch_size), self.network)

    def predict_classes(self, x, *, raw: bool | None = None):
        return _one_or_dict(classes_of(self.network, self.predict_heads(x, raw=raw)), self.network)

    def evaluate(self, x, y, *, raw: bool | None = None) -> dict[str, float]:
        return evaluate_outputs(self.network, self.predict_heads(x, raw=raw), y)

    def test_metrics(self):
        """Test metrics of each member and of the ensemble, one row each (a DataFrame
        indexed by trial id, the last row ``"ensemble"``), on the run's test split."""
        import pandas as pd

        x, y = self.members[0].test_data()
        rows = {m.trial_id: m.evaluate(x, y) for m in self.members}
        rows["ensemble"] = self.evaluate(x, y)
        return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------------------- outputs
def _one_or_dict(outs: dict, network):
    return outs[network.heads[0].name] if network.single else outs


def classes_of(network, outs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for h in network.heads:
        p = outs[h.name]
        if h.kind == "regression":
            out[h.name] = p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p
        elif p.shape[-1] == 1:
            out[h.name] = (p[:, 0] > 0.5).astype(np.int32)
        else:
            out[h.name] = p.argmax(-1).astype(np.int32)
    return out


def _logits_from(p: np.ndarray, activation: str) -> np.ndarray:
    """Pre-activation values that give ``p`` back (for losses of averaged outputs)."""
    eps = 1e-7
    if activation == "softmax":
        return np.log(np.clip(p, eps, 1.0))
    if activation == "sigmoid":
        q = np.clip(p, eps, 1 - eps)
        return np.log(q) - np.log1p(-q)
    if activation == "linear":
        return p
    raise NotImplementedError(activation)


def evaluate_outputs(network, outs: dict[str, np.ndarray], y, *, logits: dict | None = None) -> dict[str, float]:
    """Keras-named loss and metrics from activated outputs and targets (the loss from
    ``logits`` when given, else from pre-activation values that give ``outs`` back)."""
    import jax.numpy as jnp

    from sweeplab.vocab.losses import LOSSES
    from sweeplab.vocab.metrics import METRICS, metric_from_confusion, metric_from_sums

    ys = y if isinstance(y, dict) else {network.heads[0].name: y}
    missing = [h.name for h in network.heads if h.name not in ys]
    if missing:
        raise ModelInputError(f"y: no targets for head(s) {', '.join(missing)}; give {{head: array}}")
    result: dict[str, float] = {}
    total = 0.0
    for h in network.heads:
        t = np.asarray(ys[h.name])
        n = len(outs[h.name])
        if len(t) != n:
            raise ModelInputError(f"y: {len(t)} targets for {n} inputs")
        p = outs[h.name]
        loss_entry = LOSSES.get(h.loss)
        target = loss_entry.meta.get("target")
        if h.kind != "regression" and t.ndim == 2 and t.shape[1] > 1:
            t = t.argmax(-1)  # one-hot targets -> class indices
        try:
            z = logits[h.name] if logits is not None else _logits_from(p, h.activation)
            yt = np.eye(h.units, dtype=np.float32)[t.astype(int)] if target == "onehot" else t
            loss = float(jnp.mean(loss_entry.obj(jnp.asarray(z), jnp.asarray(yt), h.activation)))
        except NotImplementedError:
            loss = float("nan")
        total += h.loss_weight * loss
        if not network.single:
            result[f"{h.name}_loss"] = loss
        for m in h.metrics:
            if METRICS.get(m).meta["kind"] == "regression":
                pred = p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p
                err = pred.astype(np.float64) - t.astype(np.float64).reshape(pred.shape)
                val = metric_from_sums(m, err.size, np.abs(err).sum(), np.square(err).sum())
            else:
                k = h.n_classes or 2
                pred = classes_of(network, outs)[h.name]
                cm = np.zeros((k, k))
                np.add.at(cm, (t.astype(int).reshape(-1), pred.reshape(-1)), 1)
                val = metric_from_confusion(m, cm)
            result[network.metric_name(h, m)] = float(val)
    return {"loss": total, **result}


# ---------------------------------------------------------------------------- from a run
def from_run(analysis, trial_id: str | None = None) -> TrainedModel:
    """The :class:`TrainedModel` of one trial of a :class:`~sweeplab.analysis.notebook.RunAnalysis`
    (default: the first seed of the best configuration, ranked by ``run.selection``)."""
    data = analysis.data
    tid = _trial(analysis, trial_id)
    params = data.params(tid)
    if not params:
        reason = data.damaged.get(tid)
        raise LookupError(f"trial {tid!r} has no readable saved parameters" + (f" ({reason})" if reason else ""))
    return TrainedModel(data.config(tid), params, trial_id=tid, study_seed=study_seed(data.study),
                        run_dir=data.run_dir)


def models_from_run(analysis) -> list[TrainedModel]:
    """One :class:`TrainedModel` per seed of the best configuration (first seed first)."""
    ids = analysis.best_trials
    if not ids:
        raise LookupError("the run has no finished trials yet")
    return [from_run(analysis, t) for t in ids]


def class_names(config: dict, study_seed: int = 0) -> dict[str, list[str] | None]:
    """Class names per head of a trial configuration (None for a regression head)."""
    from sweeplab.data import prepare
    from sweeplab.preprocessing import data_spec

    p = prepare(data_spec(config), seed=study_seed, storage="uint8")
    return {k: v.class_names for k, v in p.heads.items()}


def study_seed(study: Any) -> int:
    spec = (study or {}).get("study") or {}
    return int(spec.get("seed") or 0)


def _trial(analysis, trial_id) -> str:
    if trial_id is None:
        ids = analysis.best_trials
        if not ids:
            raise LookupError("the run has no finished trials yet")
        return ids[0]
    tid = str(trial_id)
    if tid not in analysis.data.trials.index:
        raise LookupError(f"no finished trial {tid!r} in this run")
    return tid
