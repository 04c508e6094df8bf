"""Datasets the way Keras users load them: ``sweeplab.datasets.load(name)``.

Two forms:

    >>> from sweeplab.datasets import load
    >>> (x_train, y_train), (x_test, y_test) = load("mnist", raw=True)
    >>> x_train.shape, x_train.dtype, y_train.dtype        # exactly keras.datasets.mnist.load_data()
    ((60000, 28, 28), dtype('uint8'), dtype('uint8'))
    >>> (x_train, y_train), (x_test, y_test) = load("mnist")
    >>> x_train.shape, x_train.dtype                       # the float form: NHWC, values / 255
    ((60000, 28, 28, 1), dtype('float32'))

* ``raw=True``: the stored values, as Keras gives them: 8-bit images as ``uint8``
  0..255 (``digits``: 0..16), one-channel images without the channel axis
  (``(n, 28, 28)``), colour images ``(n, H, W, 3)``, labels as ``uint8`` class
  indices when they fit (``clocks``: ``(n, 2)`` ``[hour, minute]``, int64).
* ``raw=False`` (default): float32 images NHWC scaled to [0, 1] by the full-scale
  value (255; 16 for ``digits``), int64 labels.

A trained model (``run.model()``) takes either: integer arrays are raw values,
float arrays the network's prepared inputs (``x / 255`` for a run with the
default ``normalize = "unit"``); see docs/models.md.
"""

from __future__ import annotations

import numpy as np

from .data import DATASETS, Dataset, DownloadError, data_dir, fetch, is_cached
from .data import load as _load

__all__ = ["DATASETS", "Dataset", "DownloadError", "data_dir", "fetch", "is_cached", "load"]


def load(name: str, *, raw: bool = False, dtype: str | None = None, root=None, download: bool = True,
         **params) -> Dataset:
    """Load a dataset; unpacks as ``(x_train, y_train), (x_test, y_test)``.

    Args:
        name: a dataset of ``sweeplab list datasets`` (``mnist``, ``fashion-mnist``...).
        raw: ``True``: Keras's form (uint8 images, one-channel images as ``(n, H, W)``,
            uint8 labels); ``False``: float32 NHWC in [0, 1].
        dtype: the older spelling: ``"uint8"`` (raw bytes, NHWC) or ``"float32"``.
        root: data folder (default: ``$SWEEPLAB_DATA`` or ``~/.sweeplab/data``).
        download: fetch (verified) on first use.
        **params: the dataset's own options (``clocks``: ``size``, ``n_images``...).

    Datasets without an official test split (digits, clocks, synthetic2d) give
    ``x_test = y_test = None``; a study carves its test split from the data.
    """
    if not raw:
        return _load(name, dtype=dtype or "float32", root=root, download=download, **params)
    ds = _load(name, dtype="uint8", root=root, download=download, **params) \
        if DATASETS.get(name).meta.get("max_value") else _load(name, root=root, download=download, **params)

    def images(x):
        if x is None:
            return None
        return x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x

    def labels(y):
        if y is None:
            return None
        y = np.asarray(y)
        if y.ndim == 1 and y.size and y.min() >= 0 and y.max() <= 255:
            return y.astype(np.uint8)
        return y

    return Dataset(ds.name, images(ds.x_train), labels(ds.y_train), images(ds.x_test), labels(ds.y_test),
                   ds.class_names, ds.label_names, ds.max_value, ds.description, ds.params)
