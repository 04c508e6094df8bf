"""A trained model as one ``.npz`` file: plain arrays plus a JSON architecture.

Read it with NumPy alone (no pickle)::

    import json, numpy as np
    f = np.load("model.npz")                       # allow_pickle=False is enough
    arch = json.loads(str(f["architecture.json"]))
    w = f["dense/kernel"]                          # weights: "<layer>/<weight>"

Contents (``format: "sweeplab.model"``, ``version: 1``):

* ``architecture.json``: ``input_shape``; ``preprocessing``: layers that turn raw
  stored values into network inputs (``Reshape``/``Permute``/``Dense`` for a pixel
  permutation, ``Rescaling`` ``{scale, offset}`` or ``Normalization`` ``{mean,
  variance}``); ``trunk``: layers in order; ``heads``: one per output with its
  ``name``, ``kind`` (multiclass, binary, regression), ``activation``, ``loss``,
  ``classes`` and its own ``layers``. Each layer has ``name``, ``class`` (the Keras
  layer class), ``args`` (its Keras constructor arguments) and ``weights`` (array
  names in this file, in Keras's ``set_weights`` order). Also ``trial_id`` and
  ``config`` (the trial's full configuration) and ``raw_input`` (what the first layer
  takes: the dataset's stored values).
* one array per weight: ``dense/kernel`` ``(in, out)``, ``conv2d/kernel``
  ``(kh, kw, in, out)`` (HWIO), ``batch_normalization/moving_mean``...;
  ``preprocessing/pixel_permutation/kernel`` for a permutation matrix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sweeplab.export.architecture import describe

FORMAT, VERSION = "sweeplab.model", 1


def to_arrays(tm) -> dict[str, np.ndarray]:
    """``{name: array}`` with ``architecture.json`` (a 0-d str array) for a TrainedModel."""
    arch = describe(tm)
    arrays: dict[str, np.ndarray] = {}

    def layers(specs, prefix=""):
        out = []
        for s in specs:
            for w, a in s.weights:
                arrays[f"{prefix}{s.name}/{w}"] = np.asarray(a, np.float32)
            out.append(s.as_json(prefix))
        return out

    pre = tm.preprocessing
    doc = {
        "format": FORMAT, "version": VERSION, "trial_id": tm.trial_id, "dataset": pre.dataset,
        "input_shape": arch["input_shape"],
        "raw_input": {"max_value": pre.max_value, "normalize": pre.normalize,
                      "pixel_permutation": pre.permutation is not None},
        "preprocessing": layers(arch["preprocessing"], "preprocessing/"),
        "trunk": layers(arch["trunk"]),
        "heads": [{**{k: v for k, v in h.items() if k != "layers"}, "layers": layers(h["layers"])}
                  for h in arch["heads"]],
        "single_output": arch["single"],
        "config": tm.config,
    }
    arrays["architecture.json"] = np.array(json.dumps(doc, indent=1))
    return arrays


def save_npz(tm, path) -> dict:
    """Write ``path`` atomically (a temporary file renamed into place); returns the arrays."""
    arrays = to_arrays(tm)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return arrays
