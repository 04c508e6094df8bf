"""IDX and SVHN .mat readers: round trip, bad magic, wrong counts, label range."""

import gzip

import numpy as np
import pytest

from sweeplab.data.formats import (FormatError, parse_idx, raw_md5, read_idx, read_svhn_mat,
                                   write_idx, write_svhn_mat)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte.gz", "imgs-idx3-ubyte"])
def test_idx_round_trip(tmp_path, name):
    x = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    p = write_idx(tmp_path / name, x)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    y = read_idx(p, ndim=3, count=7, shape=(28, 28))
    assert y.dtype == np.uint8 and np.array_equal(x, y)
    raw = gzip.decompress(p.read_bytes()) if name.endswith(".gz") else p.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 7
    assert raw_md5(p) == __import__("hashlib").md5(raw).hexdigest()


def test_idx_labels_round_trip_and_range(tmp_path):
    y = np.arange(10, dtype=np.uint8)
    p = write_idx(tmp_path / "l.gz", y)
    assert np.array_equal(read_idx(p, ndim=1, count=10, max_label=9), y)
    with pytest.raises(FormatError, match="labels in 0..9, expected 0..8"):
        read_idx(p, max_label=8)


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc"))
    with pytest.raises(FormatError, match="bad IDX magic"):
        read_idx(p)
    with pytest.raises(FormatError, match="bad IDX magic"):
        parse_idx(b"")


def test_idx_wrong_counts(tmp_path):
    x = np.zeros((5, 4, 4), np.uint8)
    good = write_idx(tmp_path / "x", x).read_bytes()
    (tmp_path / "trunc").write_bytes(good[:-3])
    with pytest.raises(FormatError, match="truncated or wrong count"):
        read_idx(tmp_path / "trunc")
    with pytest.raises(FormatError, match="5 items, expected 6"):
        read_idx(tmp_path / "x", count=6)
    with pytest.raises(FormatError, match="item shape"):
        read_idx(tmp_path / "x", shape=(28, 28))
    with pytest.raises(FormatError, match="3 dimensions, expected 1"):
        read_idx(tmp_path / "x", ndim=1)


def test_idx_corrupt_gzip(tmp_path):
    p = tmp_path / "c.gz"
    data = write_idx(tmp_path / "ok.gz", np.zeros((3, 2, 2), np.uint8)).read_bytes()
    p.write_bytes(data[:-6])
    with pytest.raises(FormatError, match="not a valid gzip"):
        read_idx(p)


def test_svhn_mat_round_trip_label_10_is_0(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 1, 2, 9, 0, 5])
    p = write_svhn_mat(tmp_path / "train_32x32.mat", x, y)
    import scipy.io

    stored = scipy.io.loadmat(p)
    assert stored["X"].shape == (32, 32, 3, 6) and stored["y"].ravel().tolist() == [10, 1, 2, 9, 10, 5]
    x2, y2 = read_svhn_mat(p, count=6)
    assert np.array_equal(x2, x) and y2.tolist() == y.tolist()


def test_svhn_mat_bad_header_and_counts(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"\x00" * 200)
    with pytest.raises(FormatError, match="not a MATLAB 5"):
        read_svhn_mat(bad)
    p = write_svhn_mat(tmp_path / "t.mat", np.zeros((4, 32, 32, 3), np.uint8), np.arange(4))
    with pytest.raises(FormatError, match="4 items, expected 5"):
        read_svhn_mat(p, count=5)
    import scipy.io

    scipy.io.savemat(tmp_path / "m.mat", {"X": np.zeros((32, 32, 3, 3), np.uint8),
                                          "y": np.ones((2, 1), np.uint8)})
    with pytest.raises(FormatError, match="3 images but 2 labels"):
        read_svhn_mat(tmp_path / "m.mat")
    scipy.io.savemat(tmp_path / "r.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8),
                                          "y": np.array([[1], [11]], np.uint8)})
    with pytest.raises(FormatError, match="expected 1..10"):
        read_svhn_mat(tmp_path / "r.mat")
