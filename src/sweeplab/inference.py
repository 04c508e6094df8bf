"""Run a trained trial's model again from its stored configuration and parameters.

Used by analyses (decision regions, feature maps) and notebooks. Inputs are in
the space the model sees (prepared data with storage "float32").
"""

from __future__ import annotations

import numpy as np

from sweeplab.trial import model_for


def split_params(flat: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Flat ``"layer/name"`` arrays (as stored) -> ``(params, state)`` pytrees."""
    params: dict = {}
    state: dict = {}
    for key, arr in flat.items():
        target = state if key.startswith("state:") else params
        layer, name = key.removeprefix("state:").rsplit("/", 1)
        target.setdefault(layer, {})[name] = np.asarray(arr)
    return params, state


def predict(config: dict, params: dict[str, np.ndarray], x: np.ndarray, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Outputs after each head's activation (probabilities for classifiers), ``head -> (N, units)``."""
    import jax
    import jax.numpy as jnp

    model = model_for(config)
    p, s = split_params(params)
    fwd = jax.jit(lambda xb: model.predict_proba(model.apply(p, s, xb)[0]))
    x = np.asarray(x, np.float32)
    parts = [jax.device_get(fwd(jnp.asarray(x[i:i + batch_size]))) for i in range(0, len(x), batch_size)]
    return {h: np.concatenate([part[h] for part in parts]) for h in parts[0]} if parts else {}


def feature_maps(config: dict, params: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """Activations of every image-shaped trunk layer (conv, pooling) for a batch ``x`` (N, H, W, C)."""
    model = model_for(config)
    p, s = split_params(params)
    feats = model.features(p, s, np.asarray(x, np.float32))
    return {name: np.asarray(v) for name, v in feats.items() if np.ndim(v) == 4}
