"""Public alias: ``from sweeplab.datasets import load`` (Keras-style raw access).

    >>> from sweeplab.datasets import load
    >>> (x_train, y_train), (x_test, y_test) = load("mnist")
"""

from .data import DATASETS, Dataset, DownloadError, data_dir, fetch, is_cached, load

__all__ = ["DATASETS", "Dataset", "DownloadError", "data_dir", "fetch", "is_cached", "load"]
