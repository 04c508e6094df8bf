"""Datasets: registry, verified downloads, built-in generators and the transforms
that a study's ``[data]`` section sets (see docs/datasets.md).

    >>> from sweeplab.data import DataSpec, prepare, load
    >>> (x_train, y_train), (x_test, y_test) = load("mnist")        # NHWC float32 [0, 1]
    >>> data = prepare(DataSpec(dataset="mnist", validation_split=0.2), seed=0)
"""

import importlib

# Names load their submodule on first use (PEP 562): ``import sweeplab.data.cli`` (which
# ``sweeplab --help`` does) must not pay for the pipeline, the formats and NumPy.
_EXPORTS = {
    "download": ("DownloadError", "RemoteFile"),
    "formats": ("FormatError", "read_idx", "read_svhn_mat", "write_idx", "write_svhn_mat"),
    "loaders": ("Dataset", "fetch", "find_files", "is_cached", "load", "load_raw"),
    "paths": ("data_dir", "dataset_dir"),
    "pipeline": ("HeadInfo", "PreparedData", "Split", "clear_cache", "prepare"),
    "registry": ("DATASETS",),
    "spec": ("AugmentSpec", "DataSpec", "TaskSpec"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "DATASETS", "AugmentSpec", "DataSpec", "Dataset", "DownloadError", "FormatError",
    "HeadInfo", "PreparedData", "RemoteFile", "Split", "TaskSpec", "clear_cache", "data_dir",
    "dataset_dir", "fetch", "find_files", "is_cached", "load", "load_raw", "prepare",
    "read_idx", "read_svhn_mat", "write_idx", "write_svhn_mat",
]
