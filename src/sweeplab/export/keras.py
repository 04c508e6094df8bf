"""A trained model as a Keras 3 model (and ``.keras`` file), preprocessing included.

    >>> from sweeplab.export.keras import to_keras
    >>> km = to_keras(run.model())          # keras.Model taking raw uint8 images
    >>> km.save("model.keras")              # keras.saving.load_model("model.keras")

The Keras model takes the dataset's raw stored values (uint8 0..255 images, or
raw feature values) and starts with the run's preprocessing as layers; its
outputs are the probabilities (or regression values) sweeplab's ``predict``
gives, one output or ``{head: output}``. Keras is imported here only: install it
with ``pip install 'sweeplab[keras]'``. Without ``KERAS_BACKEND`` set, JAX is used.
"""

from __future__ import annotations

from sweeplab.errors import MachineError

import os

import numpy as np

from sweeplab.export.architecture import describe


class KerasMissingError(MachineError):
    """Keras 3 is not installed (an environment problem, not the user's input)."""


def import_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError:
        raise KerasMissingError("--format keras needs Keras 3: pip install 'sweeplab[keras]' "
                                "(or pip install 'keras>=3')") from None
    if int(keras.__version__.split(".")[0]) < 3:
        raise KerasMissingError(f"--format keras needs Keras 3, found {keras.__version__}: "
                                "pip install 'keras>=3'")
    return keras


def _layer(keras, spec):
    args = dict(spec.args)
    trainable = args.pop("trainable", True)
    if spec.keras_class in ("Reshape",):
        args["target_shape"] = tuple(args["target_shape"])
    if spec.keras_class == "Permute":
        args["dims"] = tuple(args["dims"])
    layer = getattr(keras.layers, spec.keras_class)(name=spec.name, **args)
    layer.trainable = trainable
    return layer


def _chain(keras, specs, x, built):
    for spec in specs:
        layer = _layer(keras, spec)
        x = layer(x)
        built.append((layer, spec))
    return x


def to_keras(tm, *, compile: bool = True):  # noqa: A002 - Keras's own word
    """A ``keras.Model`` equal to the :class:`~sweeplab.trained.TrainedModel` ``tm``.

    Raises:
        KerasMissingError: Keras 3 is not installed.
        sweeplab.export.ExportError: a layer or activation without a Keras equivalent.
    """
    arch = describe(tm)  # ExportError before Keras is even imported
    keras = import_keras()
    inp = keras.Input(shape=tuple(arch["input_shape"]), name="input")
    built: list = []
    x = _chain(keras, arch["preprocessing"] + arch["trunk"], inp, built)
    outs = {h["name"]: _chain(keras, h["layers"], x, built) for h in arch["heads"]}
    out = outs[arch["heads"][0]["name"]] if arch["single"] else outs
    model = keras.Model(inputs=inp, outputs=out, name=f"sweeplab_{tm.trial_id or 'model'}")
    for layer, spec in built:
        if spec.weights:
            layer.set_weights([np.asarray(w, np.float32) for _, w in spec.weights])
    if compile:
        _compile(keras, model, arch)
        # built now, so that load_model finds the same optimizer variables (no warning)
        model.optimizer.build(model.trainable_variables)
    return model


_KERAS_METRICS = {"accuracy": "accuracy", "mae": "mae", "mse": "mse"}
# sweeplab's targets are class indices, also for a categorical_crossentropy model (one-hot in training)
_KERAS_LOSS = {"categorical_crossentropy": "sparse_categorical_crossentropy"}


def _compile(keras, model, arch) -> None:
    """Loss and the metrics Keras computes the same way (so ``evaluate`` works after loading)."""
    heads = arch["heads"]
    if arch["single"]:
        h = heads[0]
        model.compile(loss=_KERAS_LOSS.get(h["loss"], h["loss"]), metrics=[_KERAS_METRICS[m] for m in h["metrics"] if m in _KERAS_METRICS])
    else:
        model.compile(loss={h["name"]: _KERAS_LOSS.get(h["loss"], h["loss"]) for h in heads},
                      loss_weights={h["name"]: h["loss_weight"] for h in heads},
                      metrics={h["name"]: [_KERAS_METRICS[m] for m in h["metrics"] if m in _KERAS_METRICS]
                               for h in heads})


def save_keras(tm, path) -> "object":
    """Write ``path`` (must end in ``.keras``); returns the Keras model."""
    model = to_keras(tm)
    model.save(str(path))
    return model
