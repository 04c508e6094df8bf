"""Real MNIST / Fashion-MNIST from $SWEEPLAB_DATA (e.g. /work/shared/data)."""

import os
from pathlib import Path

import numpy as np
import pytest

from sweeplab.data import DATASETS, load
from sweeplab.data.formats import raw_md5


def _need(name):
    root = os.environ.get("SWEEPLAB_DATA")
    if not root:
        pytest.skip(f"real {name} needs SWEEPLAB_DATA (e.g. SWEEPLAB_DATA=/work/shared/data)")
    d = Path(root) / name
    files = [rf.name for v in DATASETS.get(name).meta["files"].values() for rf in v]
    missing = [f for f in files if not (d / f).is_file()]
    if missing:
        pytest.skip(f"real {name} files absent from {d}: {', '.join(missing)}")
    return d


def test_mnist_exact_class_counts_and_layout():
    _need("mnist")
    (x, y), (xt, yt) = load("mnist", download=False)
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 == x.min() and x.max() == 1.0
    assert abs(float(x.mean()) - 0.1307) < 1e-3
    xu = load("mnist", dtype="uint8", download=False).x_test
    assert xu.dtype == np.uint8 and xu.shape == (10000, 28, 28, 1)


def test_fashion_mnist_counts():
    _need("fashion-mnist")
    ds = load("fashion-mnist", dtype="uint8", download=False)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[9] == "Ankle boot"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_shared_files_match_registry_uncompressed_md5(name):
    d = _need(name)
    for v in DATASETS.get(name).meta["files"].values():
        for rf in v:
            assert raw_md5(d / rf.name) == rf.raw_md5, rf.name
