"""One trial's working set: its validated sections, its prepared data and its model.

``TrialContext.from_config(config, study_seed)`` is the one path from a trial
configuration (``TrialRecord.config``, as the store keeps it) to what training,
planning, summaries and inference need:

    >>> ctx = TrialContext.from_config(study.trials[0].config, study.spec.study.seed)
    >>> ctx.model.n_params, len(ctx.data.train), ctx.data_seed

Data comes from :func:`sweeplab.data.prepare`, which holds the one in-process
data cache, so contexts of trials that share a ``[data]`` section share its
arrays. The data seed follows one rule, :func:`sweeplab.data.pipeline.data_seed`.
Everything here is picklable input (a config dict and a seed), so a worker
process rebuilds the same context from the same record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweeplab.data.pipeline import PreparedData, data_seed, prepare
from sweeplab.models.model import Model, build_model
from sweeplab.spec.expand import TrialSpec

__all__ = ["TrialContext", "model_for", "summary_table"]


@dataclass(frozen=True, eq=False)
class TrialContext:
    """A trial's spec, data and model.

    Attributes:
        config: the trial configuration it was built from.
        spec: ``config`` validated (``data``, ``model``, ``train`` sections).
        data_seed: the seed of the data (``data.seed``, else the study seed).
        data: the prepared splits (``storage`` as asked; uint8 images by default).
        model: the model built for this data's input shape and heads.
    """

    config: dict[str, Any]
    spec: TrialSpec
    data_seed: int
    data: PreparedData
    model: Model

    @classmethod
    def from_config(cls, config: dict[str, Any], study_seed: int = 0, *, storage: str = "uint8") -> TrialContext:
        """Validate ``config``, prepare its data (cached) and build its model.

        Raises:
            ValueError: the configuration does not fit its data (a pydantic
                ``ValidationError`` for a malformed config).
        """
        spec = TrialSpec.model_validate(config)
        data = prepare(spec.data, seed=study_seed, storage=storage)
        model = build_model(spec.model, spec.train, data.heads, data.input_shape)
        return cls(config, spec, data_seed(spec.data, study_seed), data, model)

    def with_storage(self, storage: str) -> PreparedData:
        """This trial's data kept as ``storage`` ("float32" or "uint8"), from the same cache."""
        return prepare(self.spec.data, seed=self.data_seed, storage=storage)

    @property
    def has_validation(self) -> bool:
        """Whether epochs record ``val_*`` metrics (a validation split, folds, or the test split)."""
        data, spec = self.data, self.spec
        return (data.val is not None or bool(spec.train.cross_validation)
                or (spec.data.validation_data == "test" and data.test is not None))

    @property
    def batch_size(self) -> int:
        """Rows per optimizer step on the training split (``"full"``: all of them)."""
        n = len(self.data.train)
        bs = self.spec.train.batch_size
        return n if bs == "full" else min(int(bs), n)


def model_for(config: dict[str, Any], study_seed: int = 0) -> Model:
    """The model of a trial configuration (its data is prepared, cached, to learn the shapes)."""
    return TrialContext.from_config(config, study_seed).model


def summary_table(config: dict[str, Any], study_seed: int = 0) -> tuple[list[tuple[str, str, str, int]], int]:
    """Keras summary rows of a trial configuration and its trainable parameter count
    (:func:`sweeplab.models.summary.totals` has all three of Keras's totals)."""
    from sweeplab.models.summary import rows

    model = model_for(config, study_seed)
    return rows(model), model.n_params
