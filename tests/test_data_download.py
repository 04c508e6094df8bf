"""Download path against a local HTTP server on 127.0.0.1: good file, corrupt body,
truncated body, 404 on the first mirror, slow server; never a partial file left."""

import gzip
import hashlib
import http.server
import threading
import time

import numpy as np
import pytest

from sweeplab.data import DownloadError, FormatError, RemoteFile, fetch, load_raw, write_idx
from sweeplab.data.formats import read_idx


def _idx_gz(arr) -> tuple[bytes, bytes]:
    """(gz bytes, raw bytes) of an IDX file."""
    import io

    raw = bytes([0, 0, 8, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(raw)
    return buf.getvalue(), raw


IMAGES = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 3, 9], np.uint8)
IMG_GZ, IMG_RAW = _idx_gz(IMAGES)
LAB_GZ, LAB_RAW = _idx_gz(LABELS)
FILES = {"train-images-idx3-ubyte.gz": IMG_GZ, "train-labels-idx1-ubyte.gz": LAB_GZ}
md5 = lambda b: hashlib.md5(b).hexdigest()  # noqa: E731
RFS = {"train": (RemoteFile("train-images-idx3-ubyte.gz", md5(IMG_GZ), md5(IMG_RAW), len(IMG_GZ)),
                 RemoteFile("train-labels-idx1-ubyte.gz", md5(LAB_GZ), md5(LAB_RAW), len(LAB_GZ)))}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        body = FILES.get(name)
        if mode == "missing" or body is None:
            self.send_error(404)
            return
        if mode == "slow":
            time.sleep(1.5)
        if mode == "corrupt":
            body = body[:-20] + bytes(20)
        if mode == "regz":  # same content, different gzip bytes (like /work/shared/data)
            body = gzip.compress(gzip.decompress(body), compresslevel=1, mtime=12345)
        if mode == "badmagic":
            body = gzip.compress(b"\x01\x02" + gzip.decompress(body)[2:])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "trunc":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _leftovers(root):
    d = root / "mnist"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_good_download(server, tmp_path):
    folder = fetch("mnist", root=tmp_path, mirrors=[f"{server}/good/"], files=RFS,
                   timeout=5, progress=False)
    assert folder == tmp_path / "mnist"
    assert _leftovers(tmp_path) == sorted(FILES)
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == IMG_GZ
    assert (folder / "train-images-idx3-ubyte.gz").stat().st_mode & 0o400  # not left 0600-only
    assert np.array_equal(read_idx(folder / "train-labels-idx1-ubyte.gz"), LABELS)


def test_recompressed_mirror_accepted_by_uncompressed_md5(server, tmp_path):
    fetch("mnist", root=tmp_path, mirrors=[f"{server}/regz/"], files=RFS, timeout=5,
          progress=False)
    got = (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    assert got != IMG_GZ and gzip.decompress(got) == IMG_RAW


def test_corrupt_body_checksum_error_nothing_left(server, tmp_path):
    with pytest.raises(DownloadError) as e:
        fetch("mnist", root=tmp_path, mirrors=[f"{server}/corrupt/"], files=RFS, timeout=5,
              progress=False)
    msg = str(e.value)
    assert "'mnist'" in msg and f"{server}/corrupt/train-images-idx3-ubyte.gz" in msg
    assert "checksum mismatch" in msg
    assert str(tmp_path / "mnist") in msg and "place them in" in msg
    assert _leftovers(tmp_path) == []


def test_truncated_body_nothing_left(server, tmp_path):
    with pytest.raises(DownloadError, match="truncated") as e:
        fetch("mnist", root=tmp_path, mirrors=[f"{server}/trunc/"], files=RFS, timeout=5,
              progress=False)
    assert "trunc/train-labels-idx1-ubyte.gz" in str(e.value)
    assert _leftovers(tmp_path) == []


def test_404_first_mirror_falls_back_to_second(server, tmp_path):
    fetch("mnist", root=tmp_path, mirrors=[f"{server}/missing/", f"{server}/good/"], files=RFS,
          timeout=5, progress=False)
    assert _leftovers(tmp_path) == sorted(FILES)


def test_all_mirrors_fail_lists_each_url_and_reason(server, tmp_path):
    with pytest.raises(DownloadError) as e:
        fetch("mnist", root=tmp_path, mirrors=[f"{server}/missing/", f"{server}/corrupt/"],
              files=RFS, timeout=5, progress=False)
    msg = str(e.value)
    assert "HTTP 404" in msg and "checksum mismatch" in msg
    assert msg.count(server) == 4  # 2 files x 2 mirrors
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in msg


def test_slow_server_times_out(server, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        fetch("mnist", root=tmp_path, mirrors=[f"{server}/slow/"], files=RFS, timeout=0.3,
              progress=False)
    assert time.monotonic() - t0 < 3.0
    assert _leftovers(tmp_path) == []


def test_format_checked_before_rename(server, tmp_path):
    rfs = {"train": (RemoteFile("train-images-idx3-ubyte.gz"),)}  # no checksum: format only
    with pytest.raises(DownloadError, match="bad IDX magic"):
        fetch("mnist", root=tmp_path, mirrors=[f"{server}/badmagic/"], files=rfs, timeout=5,
              progress=False)
    assert _leftovers(tmp_path) == []


def test_unreachable_host_offline_message(tmp_path):
    with pytest.raises(DownloadError) as e:
        fetch("svhn", root=tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=1, progress=False)
    msg = str(e.value)
    assert "'svhn'" in msg and "http://127.0.0.1:9/train_32x32.mat" in msg
    assert "train_32x32.mat, test_32x32.mat" in msg and str(tmp_path / "svhn") in msg


def test_hand_placed_files_are_format_checked(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((60000, 28, 28), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(59999, np.uint8))  # wrong count
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((10000, 28, 28), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    with pytest.raises(FormatError, match="59999 items, expected 60000"):
        load_raw("mnist", root=tmp_path, download=False)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.full(60000, 10, np.uint8))  # label range
    with pytest.raises(FormatError, match="expected 0..9"):
        load_raw("mnist", root=tmp_path, download=False)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.arange(60000, dtype=np.uint8) % 10)
    ds = load_raw("mnist", root=tmp_path, download=False)
    assert ds.x_train.shape == (60000, 28, 28, 1) and np.bincount(ds.y_test).tolist() == [10000]


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="place them in"):
        load_raw("mnist", root=tmp_path / "empty", download=False)
