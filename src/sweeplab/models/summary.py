"""Keras-style model summary: layer (type), output shape, parameter count."""

from __future__ import annotations

from sweeplab.models.layers import LAYERS
from sweeplab.models.model import Model


def rows(model: Model) -> list[tuple[str, str, str, int]]:
    """(name, Keras type, output shape, parameters) for every layer, input first.

    A layer's parameters count its non-trainable ones too, as Keras does (batch
    normalization: gamma, beta, moving mean and moving variance).
    """
    out = [("input", "InputLayer", str((None, *model.input_shape)), 0)]
    for node in model.nodes():
        out.append((node.name, LAYERS.get(node.kind).obj.keras_name, str((None, *node.out_shape)),
                    node.n_params + node.n_state))
    return out


def totals(model: Model) -> dict[str, int]:
    """Keras's summary totals: ``{"total": ..., "trainable": ..., "non_trainable": ...}``."""
    return {"total": model.n_params + model.n_state, "trainable": model.n_params, "non_trainable": model.n_state}


def summary_text(model: Model) -> str:
    """The summary as plain text (for reports and notebooks)."""
    lines = [f"{'Layer (type)':<34}{'Output Shape':<24}{'Param #':>10}", "-" * 68]
    for name, kind, shape, n in rows(model):
        lines.append(f"{name + ' (' + kind + ')':<34}{shape:<24}{n:>10,}")
    t = totals(model)
    lines += ["-" * 68, f"Total params: {t['total']:,}", f"Trainable params: {t['trainable']:,}",
              f"Non-trainable params: {t['non_trainable']:,}"]
    return "\n".join(lines)
