"""Datasets: registry, verified downloads, built-in generators and the transforms
that a study's ``[data]`` section sets (see docs/datasets.md).

    >>> from sweeplab.data import DataSpec, prepare, load
    >>> (x_train, y_train), (x_test, y_test) = load("mnist")        # NHWC float32 [0, 1]
    >>> data = prepare(DataSpec(dataset="mnist", validation_split=0.2), seed=0)
"""

from .download import DownloadError, RemoteFile
from .formats import FormatError, read_idx, read_svhn_mat, write_idx, write_svhn_mat
from .loaders import Dataset, fetch, find_files, is_cached, load, load_raw
from .paths import data_dir, dataset_dir
from .pipeline import HeadInfo, PreparedData, Split, clear_cache, prepare
from .registry import DATASETS
from .spec import AugmentSpec, DataSpec, TaskSpec

__all__ = [
    "DATASETS", "AugmentSpec", "DataSpec", "Dataset", "DownloadError", "FormatError",
    "HeadInfo", "PreparedData", "RemoteFile", "Split", "TaskSpec", "clear_cache", "data_dir",
    "dataset_dir", "fetch", "find_files", "is_cached", "load", "load_raw", "prepare",
    "read_idx", "read_svhn_mat", "write_idx", "write_svhn_mat",
]
