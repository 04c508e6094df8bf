"""Verified downloads: mirrors in order, streamed to a temp file in the target folder,
checked, then renamed into place. Never leaves a partial or unverified file behind.
"""

from __future__ import annotations

import gzip
import os
import socket
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sweeplab.errors import UserError
from sweeplab.hashing import file_digest

DEFAULT_TIMEOUT = 30.0
PROGRESS_MIN_BYTES = 1 << 20  # show a progress bar for files above 1 MiB
_CHUNK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    """One file of a downloadable dataset.

    Args:
        name: canonical file name (the same on every mirror and in the data folder).
        md5: MD5 of the published file (archive bytes), or None.
        raw_md5: MD5 of the uncompressed content (gzipped files), or None. A download
            passes when either hash matches, so re-compressed mirrors are accepted.
        size: approximate size in bytes (for ``data list`` and the progress bar).
    """

    name: str
    md5: str | None = None
    raw_md5: str | None = None
    size: int | None = None


class DownloadError(UserError, RuntimeError):
    """Every mirror failed; the message says what was tried and how to place files by hand."""


class ChecksumError(UserError):
    """A downloaded or hand-placed file whose checksum does not match the registry's."""


def _file_md5(path: Path) -> str:
    with open(path, "rb") as f:
        return file_digest(f, "md5")


def _gunzip_md5(path: Path) -> str | None:
    try:
        with gzip.open(path, "rb") as f:
            return file_digest(f, "md5")
    except (OSError, EOFError, zlib.error):
        return None


def verify(path: Path, rf: RemoteFile) -> None:
    """Raise ChecksumError unless ``path`` matches ``rf.md5`` or ``rf.raw_md5``."""
    if rf.md5 is None and rf.raw_md5 is None:
        return
    got = _file_md5(path)
    if rf.md5 is not None and got == rf.md5:
        return
    raw = None
    if rf.raw_md5 is not None:
        raw = _gunzip_md5(path)
        if raw == rf.raw_md5:
            return
    want = " or ".join(f"{k} {v}" for k, v in (("md5", rf.md5), ("uncompressed md5", rf.raw_md5)) if v)
    gotmsg = f"md5 {got}" + (f", uncompressed md5 {raw}" if rf.raw_md5 else "")
    raise ChecksumError(f"checksum mismatch: got {gotmsg}, expected {want}")


def publish(tmp: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Atomically move a finished temp file into place, readable like a normal file
    (mkstemp creates files with mode 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return "timed out"
        return f"unreachable ({reason})"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ChecksumError):
        return str(exc)
    name = type(exc).__name__
    if name == "IncompleteRead":
        return f"truncated body ({exc})"
    return f"{name}: {exc}"


def _stream(url: str, tmp, *, timeout: float, expected_size: int | None, label: str,
            progress: bool) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "sweeplab"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else expected_size
        bar = None
        if progress and (total or 0) >= PROGRESS_MIN_BYTES:
            from rich.progress import (BarColumn, DownloadColumn, Progress,
                                       TransferSpeedColumn, TimeRemainingColumn)
            bar = Progress("[progress.description]{task.description}", BarColumn(),
                           DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                           transient=True)
        got = 0
        try:
            if bar is not None:
                bar.start()
                task = bar.add_task(label, total=total)
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                tmp.write(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(task, completed=got)
        finally:
            if bar is not None:
                bar.stop()
        if length and length.isdigit() and got != int(length):
            raise ChecksumError(f"truncated body: {got} of {length} bytes")


def download_file(rf: RemoteFile, base_urls: Sequence[str], folder: Path, *,
                  timeout: float = DEFAULT_TIMEOUT, progress: bool = True,
                  check: Callable[[Path], None] | None = None) -> tuple[Path | None, list[str]]:
    """Try each ``base_url + rf.name`` in order; return (path, failures).

    The body streams into a temporary file in ``folder`` and is renamed to
    ``folder/rf.name`` only after the checksum (and ``check``, a format check)
    passed. On failure the temp file is removed and (None, ["url: why", ...])
    is returned.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / rf.name
    failures: list[str] = []
    for base in base_urls:
        url = base if base.endswith(rf.name) else base.rstrip("/") + "/" + rf.name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{rf.name}.", suffix=".part", dir=folder)
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp:
                _stream(url, tmp, timeout=timeout, expected_size=rf.size, label=rf.name,
                        progress=progress)
            verify(tmp_path, rf)
            if check is not None:
                check(tmp_path)
            publish(tmp_path, dest)
            return dest, failures
        except Exception as e:  # noqa: BLE001 - every failure is reported, next mirror tried
            failures.append(f"{url}: {_describe(e)}")
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
    return None, failures
