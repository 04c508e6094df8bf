"""The study-file schema: typed, frozen sections validated before anything runs.

A study file has the sections ``study``, ``data``, ``model``, ``train``,
``sweep`` and optionally ``report``. Names (activations, optimizers, ...)
are checked against the vocabulary registries, so every error message lists
the accepted values.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import model_serializer

from sweeplab.data.spec import DataSpec
from sweeplab.vocab.activations import ACTIVATIONS
from sweeplab.vocab.analyses import ANALYSES
from sweeplab.vocab.initializers import INITIALIZERS
from sweeplab.vocab.losses import LOSSES
from sweeplab.vocab.metrics import METRICS
from sweeplab.vocab.optimizers import KERAS_DEFAULTS, OPTIMIZERS, version_defaults
from sweeplab.vocab.params import InvalidParamError, check_params
from sweeplab.models.layers import LAYERS
from sweeplab.spec.errors import FieldError
from sweeplab.fieldtypes import MAX_WIDTH, SEED_MAX, Bool, Float, Int

KERAS_VERSIONS = tuple(KERAS_DEFAULTS)
_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _name(registry):
    """A field validator that canonicalises a registry name (or raises listing accepted)."""

    def check(value):
        if value is None:
            return value
        return registry.canonical(value)

    return check


class StudySection(BaseModel):
    """The ``[study]`` section: what the study is called and how often each configuration runs."""

    model_config = _FROZEN
    name: str = Field(min_length=1, max_length=200,
                      description="name of the study; the default run directory is `runs/NAME`")
    description: str = Field("", description="one line shown by `sweeplab list` and in the report")
    seed: Int = Field(0, ge=0, le=SEED_MAX, description="base seed: repeat r trains with seed + r; also the "
                                                        "data seed unless data.seed is set")
    repeats: Int = Field(1, ge=1, le=1000, description="seeds per configuration (mean ± std over them)")
    max_trials: Int = Field(100_000, ge=1, le=10_000_000,
                            description="refuse a sweep with more trials than this (configurations x repeats "
                                        "x folds), before anything is built")

    @model_validator(mode="after")
    def _last_seed(self):
        if self.seed + self.repeats - 1 > SEED_MAX:
            raise FieldError(f"seed + repeats - 1 = {self.seed + self.repeats - 1} exceeds the largest seed "
                             f"2**32-1 = {SEED_MAX}; use a smaller study.seed", ("seed",), self.seed)
        return self


class MLPSpec(BaseModel):
    """Shorthand for a stack of dense layers: ``hidden = [300, 100]`` or ``units``+``depth``."""

    model_config = _FROZEN
    hidden: tuple[Int, ...] | None = Field(None, description="units of each hidden dense layer; "
                                                             "[] is a single neuron / linear model")
    units: Int | None = Field(None, ge=1, le=MAX_WIDTH, description="with depth: depth hidden layers of this many units")
    depth: Int | None = Field(None, ge=0, le=10_000, description="with units: number of hidden layers")
    activation: str = Field("relu", description="activation of the hidden layers")
    dropout: Float = Field(0.0, ge=0.0, lt=1.0, description="dropout rate after each hidden layer (0: none)")
    batch_norm: Bool = Field(False, description="batch normalization after each hidden layer")
    kernel_initializer: str = Field("glorot_uniform", description="initializer of every kernel")
    bias_initializer: str = Field("zeros", description="initializer of every bias")
    output_activation: str | None = Field(None, description="activation of the output layer "
                                                            "(default: from the task: softmax, sigmoid, linear)")

    _act = field_validator("activation", "output_activation")(_name(ACTIVATIONS))
    _init = field_validator("kernel_initializer", "bias_initializer")(_name(INITIALIZERS))

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v):
        for i, u in enumerate(v or ()):
            if u < 1:
                raise FieldError("a hidden layer size must be >= 1", (i,), u)
            if u > MAX_WIDTH:
                raise FieldError(f"a hidden layer size must be at most {MAX_WIDTH:.0e}", (i,), u)
        return v

    @model_validator(mode="after")
    def _one_form(self):
        if self.hidden is None and (self.units is None or self.depth is None):
            if self.units is not None or self.depth is not None:
                raise ValueError("give both 'units' and 'depth' (or 'hidden = [...]')")
        if self.hidden is not None and (self.units is not None or self.depth is not None):
            raise ValueError("give either 'hidden' or 'units'+'depth', not both")
        return self

    def hidden_sizes(self) -> tuple[int, ...]:
        if self.hidden is not None:
            return self.hidden
        if self.units is not None and self.depth is not None:
            return (self.units,) * self.depth
        return ()


class HeadSpec(BaseModel):
    """One named output of a multi-head model (dense layer on the shared trunk)."""

    model_config = _FROZEN
    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                      description="a target of the data (clocks multihead: hour, minute)")
    units: Int | None = Field(None, ge=1, le=MAX_WIDTH, description="output units (default: from the target)")
    activation: str | None = Field(None, description="output activation (default: from the target)")
    loss: str | None = Field(None, description="loss of this head (default: from the target)")
    loss_weight: Float = Field(1.0, ge=0.0, description="weight of this head's loss in the total loss")
    metrics: tuple[str, ...] | None = Field(None, description="metrics of this head (default: those of "
                                                              "train.metrics that fit the target)")
    hidden: tuple[Annotated[Int, Field(ge=1, le=MAX_WIDTH)], ...] = Field((), description="relu dense layers of this head only, before its output")

    _act = field_validator("activation")(_name(ACTIVATIONS))
    _loss = field_validator("loss")(_name(LOSSES))

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        return None if v is None else _metric_names(v)


class ModelSpec(BaseModel):
    """The ``[model]`` section: an explicit ``layers`` list or the ``mlp`` shorthand, and optional heads."""

    model_config = _FROZEN
    layers: tuple[dict[str, Any], ...] | None = Field(
        None, description="Keras-style layer tables, e.g. {type = \"dense\", units = 10}; a final dense "
                          "layer is the output layer, else one is added to fit the task")
    mlp: MLPSpec | None = Field(None, description="shorthand for a stack of dense layers (table below)")
    heads: tuple[HeadSpec, ...] | None = Field(None, description="named outputs on one shared trunk "
                                                                 "(table below)")

    @field_validator("layers")
    @classmethod
    def _layers(cls, v):
        if v is None:
            return v
        out = []
        for i, layer in enumerate(v):
            try:
                out.append(LAYERS.validate(layer))
            except InvalidParamError as e:  # a value: name the layer's field
                raise FieldError(str(e), (i, e.param)) from None
            except ValueError as e:
                raise FieldError(str(e), (i,)) from None
            for key, value in out[-1].items():
                _check_layer_value(value, (i, key))
        return tuple(out)

    @model_validator(mode="after")
    def _one_form(self):
        if self.layers is not None and self.mlp is not None:
            raise ValueError("both 'layers' and 'mlp' given; give exactly one of them")
        if self.layers is None and self.mlp is None:
            raise ValueError("no model: give 'layers = [...]' or 'mlp = {...}'")
        if self.heads is not None:
            names = [h.name for h in self.heads]
            if len(set(names)) != len(names):
                raise ValueError(f"head names must be unique, got {names}")
        return self


class EarlyStoppingSpec(BaseModel):
    """Keras ``EarlyStopping``: stop a trial when ``monitor`` stops improving."""

    model_config = _FROZEN
    monitor: str = Field("val_loss", description="the epoch metric watched, e.g. val_loss, val_accuracy")
    patience: Int = Field(0, ge=0, description="epochs without improvement before the trial stops")
    min_delta: Float = Field(0.0, ge=0.0, description="smallest change that counts as an improvement")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for accuracy-like metrics, "
                                                                    "else min")
    restore_best_weights: Bool = Field(False, description="keep the parameters of the best epoch")
    start_from_epoch: Int = Field(0, ge=0, description="epochs before stopping may start")

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, v):
        return canonical_monitor(v)


def canonical_monitor(v: str) -> str:
    """``[val_][<head>_]<loss|metric>``, with the metric's canonical name (val_acc -> val_accuracy)."""
    prefix = "val_" if v.startswith("val_") else ""
    base = v[len(prefix):]
    for i in [-1] + [i for i, c in enumerate(base) if c == "_"]:
        head, rest = base[:i + 1], base[i + 1:]
        if rest == "loss" or rest in METRICS:
            return prefix + head + (rest if rest == "loss" else METRICS.canonical(rest))
    raise ValueError(f"unknown metric {v!r}; accepted: loss, {', '.join(METRICS.names())}, each optionally "
                     "with a val_ prefix (and <head>_ for a model with heads), e.g. val_loss")


class TrainSpec(BaseModel):
    """The ``[train]`` section: optimizer, loss, metrics, batches, epochs."""

    model_config = _FROZEN
    optimizer: str = Field("rmsprop", description="optimizer name, or a table {name = \"sgd\", momentum = "
                                                  "0.9, learning_rate = 0.1}")
    optimizer_params: dict[str, Any] = Field(default_factory=dict,
                                             description="optimizer hyperparameters (Keras names and defaults)")
    learning_rate: Float | None = Field(None, gt=0.0, description="a finite number > 0; default: the "
                                                                   "optimizer's Keras default")
    loss: str | None = Field(None, description="default: from the task (sparse_categorical_crossentropy, "
                                               "binary_crossentropy, mse)")
    metrics: tuple[str, ...] = Field(("accuracy",), description="metrics recorded per epoch (those that fit "
                                                                "the task)")
    batch_size: int | Literal["full"] = Field(32, description='examples per step; "full" is full-batch')
    epochs: Int = Field(1, ge=1, le=100_000, description="passes over the training data")
    shuffle: bool | Literal["once"] = Field(True, description='true: reshuffle the training data every epoch '
                                                             '(per trial); "once": one permutation per trial, '
                                                             'reused every epoch (a seeded Keras 3 + TensorFlow '
                                                             'fit); false: data order')
    defaults: Literal[KERAS_VERSIONS] = Field(  # type: ignore[valid-type]
        "keras3", description="optimizer defaults of a Keras version: " + ", ".join(
            f'"{v}"' for v in KERAS_DEFAULTS) + " (learning rates of adagrad, adadelta, adamax, nadam; "
        "adagrad's initial accumulator; nadam's schedule_decay); see docs/reproductions/keras-defaults.md")
    early_stopping: EarlyStoppingSpec | None = Field(None, description="Keras EarlyStopping (table below)")
    cross_validation: Int | None = Field(None, ge=2, le=100, description="k: train every configuration on "
                                                                         "k folds (k trials per seed); at most "
                                                                         "the training samples (and, stratified, "
                                                                         "the smallest class)")
    gradient_norms: Bool = Field(False, description="record per-layer gradient norms every epoch")
    eval_batch_size: Int = Field(2048, ge=1, description="batch size of validation and test evaluation")

    _opt = field_validator("optimizer")(_name(OPTIMIZERS))
    _loss = field_validator("loss")(_name(LOSSES))

    @field_validator("shuffle", mode="before")
    @classmethod
    def _shuffle(cls, v):
        if isinstance(v, bool) or v == "once":
            return v
        raise ValueError('must be true, false or "once"')

    @field_validator("defaults", mode="before")
    @classmethod
    def _defaults(cls, v):
        if isinstance(v, str) and v in KERAS_DEFAULTS:
            return v
        raise ValueError(f"must be one of {', '.join(KERAS_DEFAULTS)}")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # Keras 3 defaults are today's behaviour: leave the key out so trial configs
        # (and their ids) of studies without train.defaults stay what they were.
        out = handler(self)
        if out.get("defaults") == "keras3":
            del out["defaults"]
        return out

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        return _metric_names(v)

    @field_validator("batch_size", mode="before")
    @classmethod
    def _bs(cls, v):
        if v == "full" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError('must be a positive integer or "full"')

    @model_validator(mode="before")
    @classmethod
    def _split_optimizer(cls, data):
        """``optimizer = {name = "sgd", momentum = 0.9, learning_rate = 0.1}``: the table's
        values win over ``optimizer_params``/``learning_rate`` (so a sweep over optimizer
        tables can give each optimizer its own learning rate)."""
        if not isinstance(data, dict):
            return data
        data, where = dict(data), "optimizer_params"
        if isinstance(data.get("optimizer"), dict):
            table, where = dict(data["optimizer"]), "optimizer"
            if "name" not in table:
                raise FieldError('an optimizer table needs a name, e.g. {name = "sgd", momentum = 0.9}',
                                 ("optimizer",))
            data["optimizer"] = table.pop("name")
            if "learning_rate" in table:
                data["learning_rate"] = table.pop("learning_rate")
            data["optimizer_params"] = {**(data.get("optimizer_params") or {}), **table}
        version = data.get("defaults", "keras3")
        if (isinstance(version, str) and version in KERAS_DEFAULTS and data.get("optimizer", "rmsprop") in OPTIMIZERS
                and isinstance(data.get("optimizer_params") or {}, dict)):  # a wrong type is reported below
            # train.defaults: the version's defaults, written into the trial (explicit values win)
            given = dict(data.get("optimizer_params") or {})
            for k, v in version_defaults(version, data.get("optimizer", "rmsprop")).items():
                if k == "learning_rate":
                    data["learning_rate"] = v if data.get("learning_rate") is None else data["learning_rate"]
                else:
                    given.setdefault(k, v)
            if given:
                data["optimizer_params"] = given
        params = data.get("optimizer_params")
        if isinstance(params, dict) and data.get("optimizer", "rmsprop") in OPTIMIZERS:
            if "learning_rate" in params:
                raise FieldError("set the learning rate with train.learning_rate",
                                 (where, "learning_rate"), params["learning_rate"])
            try:
                check_params(OPTIMIZERS, data.get("optimizer", "rmsprop"), params)
            except InvalidParamError as e:
                loc = (where, e.param) if e.param else (where,)
                if e.param in params:
                    raise FieldError(str(e), loc, params[e.param]) from None
                raise FieldError(str(e), loc) from None
        return data


def _check_layer_value(value: Any, loc: tuple) -> None:
    """A number in a layer table: finite, and no larger than a layer size can be."""
    if isinstance(value, (list, tuple)):
        for j, v in enumerate(value):
            _check_layer_value(v, loc + (j,))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
        raise FieldError(f"must be at most {MAX_WIDTH:.0e}", loc, value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise FieldError("must be a finite number", loc, value)


def _metric_names(names) -> tuple[str, ...]:
    out = []
    for i, m in enumerate(names):
        try:
            out.append(METRICS.canonical(m))
        except ValueError as e:
            raise FieldError(str(e), (i,)) from None
    return tuple(out)


class ReportSpec(BaseModel):
    """The ``[report]`` section: what `sweeplab report` shows."""

    model_config = _FROZEN
    analyses: tuple[str, ...] | None = Field(None, description="analyses to include (default: chosen "
                                                               "from the data)")
    metrics: tuple[str, ...] | None = Field(None, description="metrics in the tables (default: all recorded)")
    top_n: Int = Field(20, ge=1, description="rows of the configuration and comparison tables")
    select_by: str | None = Field(None, description="metric that ranks configurations and picks the best: a name "
                                                    "(f1: its validation value when the study has validation "
                                                    "data, else test) or a split-prefixed column (test_f1); "
                                                    "default: validation accuracy (or F1, or loss)")

    @field_validator("select_by")
    @classmethod
    def _select_by(cls, v):
        from sweeplab.vocab import METRICS

        if v is None:
            return v
        base = v.split("_", 1)[1] if v.split("_", 1)[0] in ("val", "test", "train") and "_" in v else v
        names = {e.name for e in METRICS} | {"loss"}
        if not any(base == n or base.endswith("_" + n) for n in names):
            raise ValueError(f"select_by: unknown metric {v!r}; accepted: {', '.join(sorted(names))}, optionally "
                             "prefixed by val_, test_ or train_ (and a head name for multi-head models)")
        return v

    @field_validator("analyses")
    @classmethod
    def _analyses(cls, v):
        for i, name in enumerate(v or ()):
            if name not in ANALYSES:
                raise ValueError(f"analyses[{i}]: unknown analysis {name!r}; accepted: {', '.join(ANALYSES.names())}")
        return v


class SearchSection(BaseModel):
    """The ``[search]`` section: how configurations are chosen (default: the full grid)."""

    model_config = _FROZEN
    strategy: Literal["grid", "random", "tpe", "cmaes"] = Field(
        "grid", description="grid: every combination of the sweep lists; random: Optuna's RandomSampler; "
                            "tpe: Optuna's TPESampler (multivariate, constant liar) over the [sweep] "
                            "distributions; cmaes: Optuna's CmaEsSampler (float and int axes only)")
    n_trials: Int = Field(100, ge=1, le=1_000_000, description="configurations to try (random, tpe, cmaes); each "
                                                                "trains study.repeats seeds (x folds)")
    seed: Int | None = Field(None, ge=0, le=SEED_MAX, description="seed of the sampler (default: study.seed)")
    batch: Int | None = Field(None, ge=1, le=100_000,
                              description="configurations asked at a time, trained together (those of one "
                                          "structure in one compiled group); default: n_trials // 10 (at "
                                          "least 1), at most what one group holds in memory")
    metric: str | None = Field(None, description="validation metric optimised (mean over seeds at the last "
                                                 "epoch, or the restored best), e.g. val_accuracy; default: "
                                                 "the report's validation selection metric")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="default: from the metric (maximize accuracy-like metrics, minimize losses)")
    pruner: Literal["none", "median", "asha"] = Field(
        "none", description="stop unpromising trials at epoch ends: median (worse than the median of earlier "
                            "trials at that epoch) or asha (successive halving at epochs "
                            "min_epochs * reduction_factor^k)")
    min_epochs: Int = Field(1, ge=1, description="pruning: epochs before any trial may be pruned (median); "
                                                 "the first rung (asha)")
    min_trials: Int = Field(4, ge=1, description="median: trials recorded at an epoch before it prunes there")
    reduction_factor: Int = Field(3, ge=2, le=100, description="asha: keep the best 1/reduction_factor at "
                                                               "each rung")

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        """A validation metric: ``val_<metric>`` (``accuracy`` means ``val_accuracy``)."""
        if v is None:
            return v
        return canonical_monitor(v if v.startswith("val_") else "val_" + v)

    @model_validator(mode="after")
    def _fits(self):
        if self.strategy == "grid" and self.pruner != "none":
            raise FieldError('pruning needs strategy = "random", "tpe" or "cmaes"', ("pruner",), self.pruner)
        return self


class StudySpec(BaseModel):
    """A whole study file (before sweep expansion)."""

    model_config = _FROZEN
    study: StudySection = Field(description="name, description, seed, repeats")
    data: DataSpec = Field(description="dataset, task, splits and transforms")
    model: ModelSpec = Field(description="the network")
    train: TrainSpec = Field(default_factory=TrainSpec, description="optimizer, loss, metrics, batches, epochs")
    sweep: dict[str, Any] = Field(default_factory=dict, description='axes: "section.field" = [values]; '
                                                                    "[[sweep.zip]] axes vary together")
    report: ReportSpec = Field(default_factory=ReportSpec, description="what the report shows")
    search: SearchSection | None = Field(None, description="random or Bayesian (TPE) search over the [sweep] "
                                                           "distributions, with pruning (table below)")

    @property
    def is_search(self) -> bool:
        """Whether configurations come from a sampler (random, tpe, cmaes), not the grid."""
        return self.search is not None and self.search.strategy != "grid"
