"""Keras-style model summary: layer (type), output shape, parameter count."""

from __future__ import annotations

from sweeplab.models.model import Model

_KERAS_TYPE = {"dense": "Dense", "conv2d": "Conv2D", "max_pooling2d": "MaxPooling2D",
               "average_pooling2d": "AveragePooling2D", "flatten": "Flatten", "dropout": "Dropout",
               "batch_normalization": "BatchNormalization", "activation": "Activation"}


def model_for(config: dict, study_seed: int = 0) -> Model:
    """Build the model of a trial configuration (prepares its data to learn the shapes)."""
    from sweeplab.trial import TrialContext  # above models: it composes spec, data and models

    return TrialContext.from_config(config, study_seed).model


def rows(model: Model) -> list[tuple[str, str, str, int]]:
    """(name, Keras type, output shape, parameters) for every layer, input first."""
    out = [("input", "InputLayer", str((None, *model.input_shape)), 0)]
    for node in model.nodes():
        out.append((node.name, _KERAS_TYPE.get(node.kind, node.kind), str((None, *node.out_shape)), node.n_params))
    return out


def summary_table(config: dict, study_seed: int = 0) -> tuple[list[tuple[str, str, str, int]], int]:
    model = model_for(config, study_seed)
    return rows(model), model.n_params


def summary_text(model: Model) -> str:
    """The summary as plain text (for reports and notebooks)."""
    lines = [f"{'Layer (type)':<34}{'Output Shape':<24}{'Param #':>10}", "-" * 68]
    for name, kind, shape, n in rows(model):
        lines.append(f"{name + ' (' + kind + ')':<34}{shape:<24}{n:>10,}")
    lines += ["-" * 68, f"Total params: {model.n_params:,}", f"Trainable params: {model.n_params:,}",
              "Non-trainable params: 0"]
    return "\n".join(lines)
