"""Digests of files, read in chunks (the store's artifacts, downloaded data files).

A plain module at the bottom of the package: the data layer and the store
both use it, neither imports the other.
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

__all__ = ["file_digest", "sha256_file"]

_CHUNK = 1 << 20


def file_digest(f: BinaryIO, algorithm: str = "sha256") -> str:
    """Hex digest of what is left to read in the binary file object ``f`` (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    for chunk in iter(lambda: f.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``."""
    with open(path, "rb") as f:
        return file_digest(f)
