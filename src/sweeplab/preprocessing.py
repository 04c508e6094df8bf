"""The training run's own input preprocessing, as an object that can be applied to new data.

The data pipeline (:mod:`sweeplab.data.pipeline`) turns a dataset's stored values
into the network's inputs in two steps that matter for new data:

1. ``permute_pixels``: one fixed permutation of the H*W pixel positions (channels
   move together), drawn from the data seed;
2. ``normalize``: ``x * scale + offset``, with ``scale``/``offset`` from the
   (subsampled) training split: ``unit`` (images: ``1 / full-scale value``; feature
   tables: per-feature min-max), ``standardize`` (images: one mean/std over all
   training pixels; feature tables: per feature) or ``none``.

:func:`preprocessing_for` recovers both for a trial's configuration by running the
pipeline itself, and :meth:`Preprocessing.apply` reproduces its output exactly
(``tests/test_models_out.py`` checks it against ``prepare``'s test split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """Stored values -> network inputs, as the training run did it.

    Attributes:
        dataset: the dataset's registry name (``mnist``...).
        input_shape: one example as the network sees it, e.g. ``(28, 28, 1)``.
        max_value: the full-scale stored value (255 for 8-bit images, 16 for
            ``digits``); None for feature tables.
        permutation: pixel positions (length H*W) or None; ``x_net[.., i] = x[.., perm[i]]``
            on the flattened pixel axis.
        scale, offset: ``x_net = x.astype(float32) * scale + offset`` (floats for
            images; per-feature float32 arrays for feature tables).
        normalize: the ``normalize`` mode that produced them.
    """

    dataset: str
    input_shape: tuple[int, ...]
    max_value: float | None
    permutation: np.ndarray | None
    scale: float | np.ndarray
    offset: float | np.ndarray
    normalize: str

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Stored values ``(n, *input_shape)`` -> float32 network inputs."""
        x = np.asarray(x)
        if self.permutation is not None:
            h, w = self.input_shape[:2]
            x = x.reshape(len(x), h * w, -1)[:, self.permutation].reshape((len(x), *self.input_shape))
        a, b = np.asarray(self.scale, np.float32), np.asarray(self.offset, np.float32)
        return x.astype(np.float32) * a + b

    def as_dict(self) -> dict:
        """JSON-ready description (arrays as lists)."""
        def plain(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else float(v)

        return {"dataset": self.dataset, "input_shape": list(self.input_shape), "max_value": self.max_value,
                "normalize": self.normalize, "scale": plain(self.scale), "offset": plain(self.offset),
                "permutation": None if self.permutation is None else self.permutation.tolist()}


def data_spec(config: dict):
    from sweeplab.data.spec import DataSpec

    return DataSpec.model_validate(config["data"])


def data_seed(config: dict, study_seed: int) -> int:
    """The data seed of a trial configuration: the pipeline's one rule."""
    from sweeplab.data.pipeline import data_seed as _data_seed

    return _data_seed(data_spec(config), study_seed)


def preprocessing_for(config: dict, study_seed: int = 0, root=None) -> Preprocessing:
    """The preprocessing of a trial configuration (``config``: the stored trial config,
    ``study_seed``: the study's ``[study] seed``, used when ``data.seed`` is not set)."""
    from sweeplab.data import prepare

    spec = data_spec(config)
    seed = data_seed(config, study_seed)
    entry = spec.entry()
    mode = spec.normalize_mode()
    base = spec.model_copy(update={"augment": None})  # augmentation comes after the statistics
    perm = None
    if spec.permute_pixels:
        from sweeplab.data.pipeline import pixel_permutation

        h, w = entry.meta["shape"][:2]
        perm = pixel_permutation(h * w, seed)
    if len(entry.meta["shape"]) == 3:
        prepared = prepare(base, seed=seed, storage="uint8", root=root)
        if prepared.train.x.dtype != np.uint8:  # pragma: no cover - every image dataset is 8-bit today
            raise NotImplementedError(f"{entry.name}: images that are not 8-bit")
        scale, offset = prepared.affine
        return Preprocessing(entry.name, prepared.input_shape, entry.meta.get("max_value"), perm,
                             float(scale), float(offset), mode)
    # Feature tables: per-feature statistics of the un-normalised training split
    raw = prepare(base.model_copy(update={"normalize": "none"}), seed=seed, storage="float32", root=root)
    x = raw.train.x.astype(np.float64)
    if mode == "unit":
        lo, hi = x.min(0), x.max(0)
        rng = np.where(hi > lo, hi - lo, 1.0)
        a, b = 1.0 / rng, -lo / rng
    elif mode == "standardize":
        mu, sd = x.mean(0), x.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        a, b = 1.0 / sd, -mu / sd
    else:
        a, b = np.ones(x.shape[1]), np.zeros(x.shape[1])
    return Preprocessing(entry.name, raw.input_shape, None, None, np.asarray(a, np.float32),
                         np.asarray(b, np.float32), mode)


def raw_test_split(config: dict, study_seed: int = 0, root=None):
    """The trial's own test split in stored form (uint8 images in their original pixel
    order; raw feature values) and its targets ``{head: y}``."""
    from sweeplab.data import prepare

    spec = data_spec(config)
    raw = spec.model_copy(update={"augment": None, "normalize": "none", "permute_pixels": False})
    storage = "uint8" if len(spec.entry().meta["shape"]) == 3 else "float32"
    p = prepare(raw, seed=data_seed(config, study_seed), storage=storage, root=root)
    if p.test is None:  # pragma: no cover - prepare always makes a test split
        raise LookupError("the run's data has no test split")
    return p.test.x, p.test.y
