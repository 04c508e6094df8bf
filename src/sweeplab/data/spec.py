"""``DataSpec``: the study file's ``[data]`` section.

A plain nested pydantic model, so sweeps can address any field by dotted path
(``data.subsample``, ``data.params.n_samples``, ``data.augment.sigma``,
``data.task.positive``). Every error names the field, the value and what is accepted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from sweeplab.fieldtypes import SEED_MAX, Bool, Float, Int

TASK_TYPES = ("multiclass", "binary", "regression", "multihead")
NORMALIZE = ("unit", "standardize", "none")


class TaskSpec(BaseModel):
    """What the model predicts.

    - multiclass: class index (clocks: the hour, 12 classes).
    - binary: one-vs-rest, 1 for labels in ``positive`` (clocks: hours in ``positive``);
      ``positive`` is required unless the dataset is already binary.
    - regression: the label as a float (clocks: the time in hours, hour + minute / 60).
    - multihead: clocks only: heads "hour" (multiclass, 12) and "minute" (regression, 0..59).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: Literal["multiclass", "binary", "regression", "multihead"] | None = None
    positive: list[Int] | None = None
    target_scale: Float = Field(1.0, gt=0.0)  # multiplies regression targets (clocks minute / 60: 1/60)

    @field_validator("positive")
    @classmethod
    def _positive(cls, v):
        if v is not None:
            if len(v) == 0:
                raise ValueError("data.task.positive: empty list; give at least one class index")
            if len(set(v)) != len(v):
                raise ValueError(f"data.task.positive: {v!r} has duplicates")
            if any(i < 0 for i in v):
                raise ValueError(f"data.task.positive: {v!r}; class indices must be >= 0")
        return v


class AugmentSpec(BaseModel):
    """Append ``round(fraction * N_train)`` noisy copies of randomly chosen training
    samples; the noise is Gaussian with std ``sigma`` in the units the model sees
    (after ``normalize``), or with ``units = "raw"`` in the data's raw units (scaled
    by the normalisation of the clean training data); labels are those of the originals."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fraction: Float = Field(0.1, ge=0.0, le=10.0)
    sigma: Float = Field(1.0, ge=0.0)
    # "raw": sigma in the dataset's own units, as if added before ``normalize`` (seed 002 adds
    # its noise before normalising); "model": in the units the model sees (the default).
    units: Literal["model", "raw"] = "model"

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # the default stays out of trial configs and data-cache keys (they were made without it)
        out = handler(self)
        if out.get("units") == "model":
            del out["units"]
        return out


class DataSpec(BaseModel):
    """The ``[data]`` section of a study file (see docs/datasets.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: str
    params: dict[str, Any] = Field(default_factory=dict)
    task: TaskSpec = Field(default_factory=TaskSpec)
    subsample: Int | None = Field(None, ge=1)
    augment: AugmentSpec | None = None
    permute_pixels: Bool = False
    normalize: Literal["unit", "standardize", "none"] | None = None
    validation_split: Float | None = Field(None, gt=0.0, lt=1.0)
    validation_size: Int | None = Field(None, ge=1)
    # Keras's ``fit(validation_data=(x_test, y_test))``, as seed 001 does: per-epoch curves
    # on the test split. The test split then also chooses early-stopping epochs: say so in reports.
    validation_data: Literal["test"] | None = None
    test_size: Float | None = Field(None, gt=0.0, lt=1.0)
    stratify: Bool = True
    seed: Int | None = Field(None, ge=0, le=SEED_MAX)

    @field_validator("task", mode="before")
    @classmethod
    def _task_shorthand(cls, v):
        if isinstance(v, str):  # task = "binary"
            if v not in TASK_TYPES:
                raise ValueError(f"data.task: {v!r} is not accepted; accepted: {', '.join(TASK_TYPES)}")
            return {"type": v}
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v):
        from .registry import DATASETS

        try:
            return DATASETS.canonical(v)
        except ValueError as e:
            raise ValueError(f"data.dataset: {e}") from None

    @model_validator(mode="after")
    def _check(self):
        from .loaders import resolve_params
        from .registry import DATASETS

        entry = DATASETS.get(self.dataset)
        _, full = resolve_params(self.dataset, self.params)  # raises naming the field
        if self.validation_data is not None and (self.validation_split is not None
                                                 or self.validation_size is not None):
            raise ValueError("data.validation_data: 'test' validates on the test split; give it without "
                             "data.validation_split / data.validation_size")
        if self.validation_split is not None and self.validation_size is not None:
            raise ValueError("data.validation_split and data.validation_size: give at most one "
                             f"(got {self.validation_split!r} and {self.validation_size!r})")
        has_test = entry.meta.get("kind") == "download"
        if self.test_size is not None and has_test:
            raise ValueError(f"data.test_size: {self.test_size!r} not accepted for dataset "
                             f"{entry.name!r}, which has an official test split")
        t = self.task.type or entry.meta["task"]
        if t == "multihead" and entry.name != "clocks":
            raise ValueError(f"data.task.type: 'multihead' is only accepted for clocks, "
                             f"not {entry.name!r}; accepted: multiclass, binary, regression")
        n_classes = len(entry.meta["classes"])
        if t == "binary":
            if self.task.positive is None and n_classes > 2:
                raise ValueError(f"data.task.positive: required for binary one-vs-rest on "
                                 f"{entry.name!r} ({n_classes} classes), e.g. positive = [0]")
        if self.task.positive is not None:
            if t != "binary":
                raise ValueError(f"data.task.positive: only used with task type 'binary' (got {t!r})")
            bad = [i for i in self.task.positive if i >= n_classes]
            if bad:
                raise ValueError(f"data.task.positive: {bad!r} out of range for {entry.name!r}; "
                                 f"accepted: 0..{n_classes - 1}")
        if self.permute_pixels and len(entry.meta["shape"]) != 3:
            raise ValueError(f"data.permute_pixels: true is only accepted for image datasets, "
                             f"not {entry.name!r}")
        return self

    # --- derived defaults ------------------------------------------------------------
    def entry(self):
        from .registry import DATASETS

        return DATASETS.get(self.dataset)

    def task_type(self) -> str:
        return self.task.type or self.entry().meta["task"]

    def normalize_mode(self) -> str:
        """Default: "unit" for images, "none" for 2-D points (seed 002's coordinates)."""
        if self.normalize is not None:
            return self.normalize
        return "unit" if len(self.entry().meta["shape"]) == 3 else "none"

    def test_fraction(self) -> float | None:
        """Test fraction carved from datasets without an official test split (default 0.2)."""
        if self.entry().meta.get("kind") == "download":
            return None
        return 0.2 if self.test_size is None else self.test_size
