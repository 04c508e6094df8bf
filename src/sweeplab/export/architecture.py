"""A trained model as plain data: Keras layer classes, their arguments and weights.

One description serves both exports: :mod:`sweeplab.export.keras` builds Keras
layers from it and :mod:`sweeplab.export.npz` writes it as JSON beside the arrays.
Layer names are sweeplab's (which are Keras's defaults: ``dense``, ``dense_1``,
``conv2d``...); weights keep Keras's layouts (dense ``(in, out)``, conv HWIO).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sweeplab.export import ExportError

#: sweeplab activation -> Keras 3 activation name (same formula and defaults;
#: checked in tests/test_models_out_export.py). Others have no Keras equivalent.
KERAS_ACTIVATIONS = {
    "linear": "linear", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax",
    "elu": "elu", "selu": "selu", "softplus": "softplus", "softsign": "softsign",
    "hard_sigmoid": "hard_sigmoid", "exponential": "exponential", "swish": "silu", "gelu": "gelu",
    "leaky_relu": "leaky_relu",
}


@dataclass
class LayerSpec:
    """One Keras layer: class name, constructor arguments, weights in Keras's order."""

    name: str
    keras_class: str
    args: dict
    weights: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def as_json(self, prefix: str = "") -> dict:
        return {"name": self.name, "class": self.keras_class, "args": self.args,
                "weights": [f"{prefix}{self.name}/{w}" for w, _ in self.weights]}


def _act(name: str, layer: str) -> str:
    try:
        return KERAS_ACTIVATIONS[name]
    except KeyError:
        raise ExportError(f"layer {layer!r}: activation {name!r} has no Keras equivalent "
                          f"(exportable: {', '.join(sorted(KERAS_ACTIVATIONS))}); use --format npz") from None


def _node_spec(node, params: dict, state: dict, activation: str | None = None) -> LayerSpec:
    cfg, kind, name = node.cfg, node.kind, node.name
    p, s = params.get(name, {}), state.get(name, {})
    act = _act(activation or cfg.get("activation", "linear"), name)
    if kind == "dense":
        w = [("kernel", p["kernel"])] + ([("bias", p["bias"])] if "bias" in p else [])
        return LayerSpec(name, "Dense", {"units": cfg["units"], "activation": act, "use_bias": "bias" in p}, w)
    if kind == "conv2d":
        w = [("kernel", p["kernel"])] + ([("bias", p["bias"])] if "bias" in p else [])
        return LayerSpec(name, "Conv2D", {"filters": cfg["filters"], "kernel_size": list(cfg["kernel_size"]),
                                          "strides": list(cfg["strides"]), "padding": cfg["padding"],
                                          "activation": act, "use_bias": "bias" in p}, w)
    if kind in ("max_pooling2d", "average_pooling2d"):
        cls = "MaxPooling2D" if kind == "max_pooling2d" else "AveragePooling2D"
        return LayerSpec(name, cls, {"pool_size": list(cfg["pool_size"]), "strides": list(cfg["strides"]),
                                     "padding": cfg["padding"]})
    if kind == "flatten":
        return LayerSpec(name, "Flatten", {})
    if kind == "dropout":
        return LayerSpec(name, "Dropout", {"rate": float(cfg["rate"])})
    if kind == "activation":
        return LayerSpec(name, "Activation", {"activation": act})
    if kind == "batch_normalization":
        w = [(k, p[k]) for k in ("gamma", "beta") if k in p]
        w += [("moving_mean", s["moving_mean"]), ("moving_variance", s["moving_variance"])]
        return LayerSpec(name, "BatchNormalization", {"momentum": cfg["momentum"], "epsilon": cfg["epsilon"],
                                                      "center": cfg["center"], "scale": cfg["scale"]}, w)
    raise ExportError(f"layer {name!r}: type {kind!r} has no Keras equivalent yet")


def preprocessing_specs(pre) -> list[LayerSpec]:
    """Raw stored values -> network inputs as Keras layers.

    A pixel permutation is a fixed 0/1 matrix (a non-trainable ``Dense`` on the pixel
    axis: exact, and no custom code in the file); the affine map is ``Rescaling``
    (images: one scale and offset) or ``Normalization`` (feature tables: per feature).
    """
    out = []
    shape = tuple(pre.input_shape)
    if pre.permutation is not None:
        h, w, c = shape
        n = h * w
        matrix = np.zeros((n, n), np.float32)
        matrix[pre.permutation, np.arange(n)] = 1.0  # out[j] = x[perm[j]]
        out += [LayerSpec("pixels", "Reshape", {"target_shape": [n, c]}),
                LayerSpec("pixels_by_channel", "Permute", {"dims": [2, 1]}),
                LayerSpec("pixel_permutation", "Dense", {"units": n, "use_bias": False, "trainable": False},
                          [("kernel", matrix)]),
                LayerSpec("channels_by_pixel", "Permute", {"dims": [2, 1]}),
                LayerSpec("image", "Reshape", {"target_shape": list(shape)})]
    if pre.is_image:
        if (pre.scale, pre.offset) != (1.0, 0.0):
            out.append(LayerSpec("rescaling", "Rescaling", {"scale": float(pre.scale), "offset": float(pre.offset)}))
    elif pre.normalize != "none":
        a, b = np.asarray(pre.scale, np.float64), np.asarray(pre.offset, np.float64)
        out.append(LayerSpec("normalization", "Normalization",
                             {"axis": -1, "mean": (-b / a).tolist(), "variance": (1.0 / a ** 2).tolist()}))
    return out


def describe(tm) -> dict:
    """``{"input_shape", "preprocessing": [LayerSpec], "trunk": [LayerSpec], "heads": [{name, kind,
    activation, loss, classes, layers: [LayerSpec]}], "single"}`` for a :class:`TrainedModel`."""
    net = tm.network
    params, state = tm.params
    trunk = [_node_spec(n, params, state) for n in net.trunk]
    names = tm.class_names
    heads = []
    for h in net.heads:
        layers = [_node_spec(n, params, state) for n in h.nodes[:-1]]
        layers.append(_node_spec(h.nodes[-1], params, state, activation=h.activation))
        heads.append({"name": h.name, "kind": h.kind, "activation": h.activation, "loss": h.loss,
                      "loss_weight": h.loss_weight, "metrics": list(h.metrics), "classes": names.get(h.name),
                      "layers": layers})
    return {"input_shape": list(net.input_shape), "preprocessing": preprocessing_specs(tm.preprocessing),
            "trunk": trunk, "heads": heads, "single": net.single}
