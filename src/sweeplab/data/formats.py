"""Readers and writers of the on-disk formats: IDX (optionally gzipped) and SVHN's .mat.

Every reader checks the format before trusting the bytes: magic number,
dimensions against the file length, expected counts and label range. A bad
file raises :class:`FormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from sweeplab.errors import UserError


class FormatError(UserError):
    """A data file whose content is not what its name promises."""


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


MAX_IDX_BYTES = 2 * 1024**3  # no dataset sweeplab reads comes near this (MNIST images: 47 MB)


def _open_bytes(path: Path) -> bytes:
    """The (decompressed) bytes of an IDX file, ``.gz`` or raw.

    A gzip stream is decompressed only as far as the size its IDX header gives
    (plus one byte, to notice more), so a gzip bomb is refused after reading
    a few bytes too many rather than filling memory.
    """
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as g:
            head = g.read(4)
            head += g.read(4 * head[3]) if _is_idx_magic(head) else b""
            dims = _idx_dims(head)
            if dims is None:
                return head  # not IDX, or a truncated header: parse_idx says which
            limit = 4 + 4 * len(dims) + math.prod(dims) * np.dtype(_IDX_DTYPES[head[2]]).itemsize
            if limit > MAX_IDX_BYTES:
                raise FormatError(f"{path}: IDX header says shape {dims} ({limit:,} bytes), more than the "
                                  f"{MAX_IDX_BYTES:,} bytes accepted")
            data = head + g.read(limit - len(head) + 1)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{path}: not a valid gzip file ({e})") from None
    if len(data) > limit:
        raise FormatError(f"{path}: IDX header says shape {dims} ({limit:,} bytes) but the file decompresses "
                          "to more (wrong count in the header, trailing data, or a gzip bomb)")
    return data


def _is_idx_magic(head: bytes) -> bool:
    return len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in _IDX_DTYPES and head[3] >= 1


def _idx_dims(head: bytes) -> tuple[int, ...] | None:
    """The dimensions an IDX header gives; None when ``head`` is not a whole IDX header."""
    if not _is_idx_magic(head) or len(head) < 4 + 4 * head[3]:
        return None
    return struct.unpack(f">{head[3]}I", head[4:4 + 4 * head[3]])


def raw_md5(path: str | Path) -> str:
    """MD5 of the (uncompressed, when gzipped) content of a file."""
    return hashlib.md5(_open_bytes(Path(path))).hexdigest()


def parse_idx(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes (already decompressed) into an array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise FormatError(f"{name}: bad IDX magic number {data[:4].hex() or '(empty)'}; "
                          "expected 0000 08 0N (unsigned byte, N dims)")
    ndim = data[3]
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise FormatError(f"{name}: IDX header truncated or with {ndim} dimensions")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise FormatError(f"{name}: IDX header says shape {dims} ({expected} bytes) "
                          f"but the file has {len(data)} bytes (truncated or wrong count)")
    arr = np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(dims)
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def read_idx(path: str | Path, *, ndim: int | None = None, count: int | None = None,
             shape: tuple[int, ...] | None = None, max_label: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) and check it.

    Args:
        ndim: expected number of dimensions (3 for images, 1 for labels).
        count: expected first dimension (number of items).
        shape: expected trailing dimensions (e.g. (28, 28)).
        max_label: labels must lie in ``0..max_label``.
    """
    path = Path(path)
    arr = parse_idx(_open_bytes(path), name=str(path))
    if ndim is not None and arr.ndim != ndim:
        raise FormatError(f"{path}: IDX with {arr.ndim} dimensions, expected {ndim} "
                          f"(magic 0x0000080{ndim})")
    if count is not None and arr.shape[0] != count:
        raise FormatError(f"{path}: {arr.shape[0]} items, expected {count}")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise FormatError(f"{path}: item shape {arr.shape[1:]}, expected {tuple(shape)}")
    if max_label is not None and arr.size and (arr.min() < 0 or arr.max() > max_label):
        raise FormatError(f"{path}: labels in {arr.min()}..{arr.max()}, expected 0..{max_label}")
    return arr


def write_idx(path: str | Path, arr: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``arr`` (uint8 or int8) as IDX; gzipped when the name ends in .gz."""
    path = Path(path)
    arr = np.ascontiguousarray(arr)
    code = _IDX_CODES.get(arr.dtype)
    if code is None:
        raise ValueError(f"write_idx supports uint8/int8, got {arr.dtype}")
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    data = head + arr.tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
            f.write(data)
        data = buf.getvalue()
    path.write_bytes(data)
    return path


# --- SVHN cropped digits (.mat v5, read with scipy.io) -------------------------------

def read_svhn_mat(path: str | Path, *, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``train_32x32.mat``/``test_32x32.mat``: X (32,32,3,N) uint8, y (N,1) in 1..10.

    Returns x (N, 32, 32, 3) uint8 and y (N,) int64 in 0..9 (label 10 means digit 0).
    """
    import scipy.io

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e})") from None
    if len(head) < 128 or not head.startswith(b"MATLAB 5.0 MAT-file"):
        raise FormatError(f"{path}: not a MATLAB 5 .mat file (bad header {head[:19]!r})")
    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:  # scipy raises many kinds on corrupt files
        raise FormatError(f"{path}: unreadable .mat file ({type(e).__name__}: {e})") from None
    if "X" not in mat or "y" not in mat:
        raise FormatError(f"{path}: .mat file lacks variables X and y")
    X, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3):
        raise FormatError(f"{path}: X has shape {X.shape}, expected (32, 32, 3, N)")
    if X.shape[3] != y.shape[0]:
        raise FormatError(f"{path}: {X.shape[3]} images but {y.shape[0]} labels")
    if count is not None and y.shape[0] != count:
        raise FormatError(f"{path}: {y.shape[0]} items, expected {count}")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise FormatError(f"{path}: labels in {y.min()}..{y.max()}, expected 1..10")
    x = np.ascontiguousarray(np.transpose(X, (3, 0, 1, 2))).astype(np.uint8, copy=False)
    y = y.astype(np.int64) % 10
    return x, y


def write_svhn_mat(path: str | Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Write (N,32,32,3) uint8 images and 0..9 labels in SVHN's layout (0 stored as 10)."""
    import scipy.io

    X = np.ascontiguousarray(np.transpose(np.asarray(x, np.uint8), (1, 2, 3, 0)))
    yy = np.asarray(y, np.uint8).reshape(-1, 1).copy()
    yy[yy == 0] = 10
    scipy.io.savemat(str(path), {"X": X, "y": yy}, do_compression=False)
    return Path(path)
