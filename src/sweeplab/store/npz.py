"""Artifacts as ``.npz`` files: written to an fsynced temporary file (never pickled), checksummed.

:meth:`sweeplab.store.Store.commit_group` renames the temporary files into
place inside its transaction; :func:`sweeplab.store.reader.read_npz` checks
the path, size and sha256 before ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from sweeplab.hashing import sha256_file

from .errors import StoreError


def flatten_arrays(arrays: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Flat ``"layer/name" -> ndarray``; nested dicts are joined with '/'."""
    flat: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_arrays(value, name + "/"))
            continue
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise StoreError(f"array {name!r} has dtype object; only numeric arrays are saved (never pickle)")
        flat[name] = arr
    return flat


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_npz_tmp(directory: Path, name: str, arrays: Mapping[str, Any]) -> tuple[Path, str]:
    """Write ``arrays`` as an ``.npz`` to a temporary file in ``directory``.

    Same format as ``np.savez`` (a zip of ``.npy`` members), written with
    ``allow_pickle=False``; fsynced. Returns (temporary path, sha256).
    """
    flat = flatten_arrays(arrays)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, arr in flat.items():
                    with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                        np.lib.format.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        return Path(tmp), sha256_file(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


