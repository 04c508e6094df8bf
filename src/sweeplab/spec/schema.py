"""The study-file schema: typed, frozen sections validated before anything runs.

A study file has the sections ``study``, ``data``, ``model``, ``train``,
``sweep`` and optionally ``report``. Names (activations, optimizers, ...)
are checked against the vocabulary registries, so every error message lists
the accepted values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sweeplab.data.spec import DataSpec
from sweeplab.vocab.activations import ACTIVATIONS
from sweeplab.vocab.initializers import INITIALIZERS
from sweeplab.vocab.losses import LOSSES
from sweeplab.vocab.metrics import METRICS
from sweeplab.vocab.optimizers import OPTIMIZERS
from sweeplab.vocab.params import check_params
from sweeplab.models.layers import LAYERS

_FROZEN = ConfigDict(extra="forbid", frozen=True)


def _name(registry):
    """A field validator that canonicalises a registry name (or raises listing accepted)."""

    def check(value):
        if value is None:
            return value
        return registry.canonical(value)

    return check


class StudySection(BaseModel):
    model_config = _FROZEN
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    seed: int = Field(default=0, ge=0)
    repeats: int = Field(default=1, ge=1, le=1000)


class MLPSpec(BaseModel):
    """Shorthand for a stack of dense layers: ``hidden = [300, 100]`` or ``units``+``depth``."""

    model_config = _FROZEN
    hidden: tuple[int, ...] | None = None
    units: int | None = Field(default=None, ge=1)
    depth: int | None = Field(default=None, ge=0)
    activation: str = "relu"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False
    kernel_initializer: str = "glorot_uniform"
    bias_initializer: str = "zeros"
    output_activation: str | None = None

    _act = field_validator("activation", "output_activation")(_name(ACTIVATIONS))
    _init = field_validator("kernel_initializer", "bias_initializer")(_name(INITIALIZERS))

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v):
        if v is not None and any(u < 1 for u in v):
            raise ValueError(f"hidden layer sizes must be >= 1, got {list(v)}")
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
    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    units: int | None = Field(default=None, ge=1)
    activation: str | None = None
    loss: str | None = None
    loss_weight: float = Field(default=1.0, ge=0.0)
    metrics: tuple[str, ...] | None = None
    hidden: tuple[int, ...] = ()

    _act = field_validator("activation")(_name(ACTIVATIONS))
    _loss = field_validator("loss")(_name(LOSSES))

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        return None if v is None else tuple(METRICS.canonical(m) for m in v)


class ModelSpec(BaseModel):
    model_config = _FROZEN
    layers: tuple[dict[str, Any], ...] | None = None
    mlp: MLPSpec | None = None
    heads: tuple[HeadSpec, ...] | None = None

    @field_validator("layers")
    @classmethod
    def _layers(cls, v):
        if v is None:
            return v
        out = []
        for i, layer in enumerate(v):
            try:
                out.append(LAYERS.validate(layer))
            except ValueError as e:
                raise ValueError(f"layers[{i}]: {e}") from None
        return tuple(out)

    @model_validator(mode="after")
    def _one_form(self):
        if (self.layers is None) == (self.mlp is None):
            raise ValueError("give exactly one of 'layers = [...]' or 'mlp = {...}'")
        if self.heads is not None:
            names = [h.name for h in self.heads]
            if len(set(names)) != len(names):
                raise ValueError(f"head names must be unique, got {names}")
        return self


class EarlyStoppingSpec(BaseModel):
    """Keras ``EarlyStopping``: stop a trial when ``monitor`` stops improving."""

    model_config = _FROZEN
    monitor: str = "val_loss"
    patience: int = Field(default=0, ge=0)
    min_delta: float = Field(default=0.0, ge=0.0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = False
    start_from_epoch: int = Field(default=0, ge=0)


class TrainSpec(BaseModel):
    model_config = _FROZEN
    optimizer: str = "rmsprop"
    optimizer_params: dict[str, Any] = Field(default_factory=dict)
    learning_rate: float | None = Field(default=None, gt=0.0)
    loss: str | None = None
    metrics: tuple[str, ...] = ("accuracy",)
    batch_size: int | Literal["full"] = 32
    epochs: int = Field(default=1, ge=1, le=100_000)
    shuffle: bool = True
    early_stopping: EarlyStoppingSpec | None = None
    cross_validation: int | None = Field(default=None, ge=2, le=100)
    gradient_norms: bool = False
    eval_batch_size: int = Field(default=2048, ge=1)

    _opt = field_validator("optimizer")(_name(OPTIMIZERS))
    _loss = field_validator("loss")(_name(LOSSES))

    @field_validator("optimizer", mode="before")
    @classmethod
    def _opt_table(cls, v):
        # ``optimizer = {name = "sgd", momentum = 0.9}`` is split in _split_optimizer.
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        return tuple(METRICS.canonical(m) for m in v)

    @field_validator("batch_size")
    @classmethod
    def _bs(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"batch_size must be a positive integer or 'full', got {v}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _split_optimizer(cls, data):
        if isinstance(data, dict) and isinstance(data.get("optimizer"), dict):
            table = dict(data["optimizer"])
            if "name" not in table:
                raise ValueError("optimizer table needs a 'name', e.g. {name = \"sgd\", momentum = 0.9}")
            data = dict(data)
            data["optimizer"] = table.pop("name")
            lr = table.pop("learning_rate", None)
            if lr is not None:
                data.setdefault("learning_rate", lr)
            data["optimizer_params"] = {**table, **data.get("optimizer_params", {})}
        return data

    @model_validator(mode="after")
    def _opt_params(self):
        params = dict(self.optimizer_params)
        if "learning_rate" in params:
            raise ValueError("set the learning rate with train.learning_rate")
        check_params(OPTIMIZERS, self.optimizer, params)
        return self


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    analyses: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None
    top_n: int = Field(default=20, ge=1)


class StudySpec(BaseModel):
    """A whole study file (before sweep expansion)."""

    model_config = _FROZEN
    study: StudySection
    data: DataSpec
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    sweep: dict[str, Any] = Field(default_factory=dict)
    report: ReportSpec = Field(default_factory=ReportSpec)

    def trial_config(self) -> dict[str, Any]:
        """The sections a trial is built from, as plain JSON-able data."""
        return {
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json", exclude_none=True),
            "train": self.train.model_dump(mode="json"),
        }
