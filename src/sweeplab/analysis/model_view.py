"""Looking inside a trained model: parameter summary, first-layer convolution
filters, feature maps and decision regions over the plane.

Parameters are the store's flat dict ``"layer/name" -> array`` (conv kernels
in HWIO layout). Forward passes come from the engine
(``sweeplab.inference.feature_maps``/``predict``) or any callable passed in, so
these functions are testable without training.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from sweeplab.analysis.curves import layer_order


def parameter_summary(params: dict[str, np.ndarray]) -> pd.DataFrame:
    """Keras-style summary from parameters alone: one row per layer with its
    parameter shapes and count; ``attrs["total"]`` holds the total."""
    layers: dict[str, list] = {}
    for key, arr in params.items():
        layer, _, name = key.rpartition("/")
        layers.setdefault(layer or key, []).append((name or key, np.shape(arr)))
    rows = []
    for layer in sorted(layers, key=layer_order):
        shapes = layers[layer]
        count = int(sum(int(np.prod(s)) for _, s in shapes))
        rows.append({
            "layer": layer,
            "parameters": ", ".join(f"{n} {'×'.join(map(str, s)) or 'scalar'}" for n, s in sorted(shapes)),
            "count": count,
        })
    table = pd.DataFrame(rows, columns=["layer", "parameters", "count"])
    table.attrs["total"] = int(table["count"].sum()) if len(table) else 0
    return table


def conv_kernels(params: dict[str, np.ndarray]) -> list[str]:
    """Names (``conv2d_1/kernel``...) of the 4-D conv kernels, in network order."""
    names = [k for k, v in params.items() if k.endswith("/kernel") and np.ndim(v) == 4]
    return sorted(names, key=layer_order)


def first_layer_filters(params: dict[str, np.ndarray]) -> np.ndarray | None:
    """The first conv layer's filters as images ``(out_channels, H, W)``.

    Multi-channel inputs are averaged over input channels (HWIO -> O,H,W).
    Returns None for a model without convolutions.
    """
    names = conv_kernels(params)
    if not names:
        return None
    k = np.asarray(params[names[0]], dtype=float)  # (H, W, I, O)
    return np.transpose(k.mean(axis=2), (2, 0, 1))


def feature_maps(config: dict, params: dict, x: np.ndarray, forward: Callable | None = None) -> dict[str, np.ndarray]:
    """Activations of each conv layer for one input image.

    Args:
        config: the trial's stored configuration.
        params: its parameters.
        x: one image ``(H, W, C)`` or a batch of one.
        forward: ``forward(config, params, x) -> {layer: (1, H, W, C) array}``;
            defaults to ``sweeplab.inference.feature_maps``.

    Returns:
        ``{layer: (H, W, C)}``.
    """
    if forward is None:
        from sweeplab.inference import feature_maps as forward
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    maps = forward(config, params, x)
    return {name: np.asarray(m)[0] for name, m in maps.items() if np.ndim(m) == 4}


def decision_regions(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    *,
    resolution: int = 200,
    margin: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted probability over a grid covering 2-D data.

    Args:
        predict: ``predict(points (N, 2)) -> proba`` of shape ``(N,)``, ``(N, 1)``
            (positive class) or ``(N, K)``.
        x: the data points ``(n, 2)``; the grid covers them with a margin.
        resolution: grid points per side.
        margin: fraction of the data range added on each side.

    Returns:
        ``(xx, yy, proba)``: meshgrid coordinates ``(R, R)`` and the
        probabilities ``(R, R)`` (positive class) or ``(R, R, K)``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_regions needs 2-D points (n, 2), got shape {x.shape}")
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * margin + 1e-9
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
    proba = np.asarray(predict(grid), dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    shape = (resolution, resolution) + proba.shape[1:]
    return xx, yy, proba.reshape(shape)
