"""Files of a run directory: containment of artifact paths, verification, stale temporary files.

Every path read from ``results.sqlite`` is untrusted: a copied or tampered
store may name ``../x``, ``/etc/passwd`` or a symbolic link that leaves the
run directory. :func:`why_unsafe` is the one check every reader, hasher and
deleter goes through before touching such a path; nothing outside the run
directory is ever opened, hashed, written or deleted.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from sweeplab.hashing import file_digest

DB_NAME = "results.sqlite"
LOCK_NAME = ".sweeplab.lock"
TRIALS_DIR = "trials"
ARTIFACT_KINDS = ("params", "predictions")
TRIAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def _inside(root: str, path: str) -> bool:
    return path == root or os.path.commonpath([root, path]) == root


def why_unsafe(run_dir: Path, rel) -> str | None:
    """Why the stored relative path ``rel`` may not be used under ``run_dir``, or None if it may.

    Accepted: a relative POSIX path without ``..`` whose parent directory
    resolves inside ``run_dir`` and which, if it exists, is a regular file
    (not a symbolic link). A missing file is not "unsafe" (see :func:`why_damaged`).
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        return "is not a relative path"
    pure = PurePosixPath(rel)
    if pure.is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        return "is absolute"
    if ".." in pure.parts:
        return "leaves the run directory ('..')"
    root = os.path.realpath(run_dir)
    full = Path(run_dir) / rel
    if not _inside(root, os.path.realpath(full.parent)):
        return "leads outside the run directory (symbolic link)"
    try:
        st = os.lstat(full)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link, not a regular file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    return None


def open_regular(path: Path) -> int:
    """``os.open`` for reading that refuses a symbolic link or anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{path}: not a regular file")
    return fd


def sha256_fd(f) -> str:
    """Hex sha256 of an open binary file, from its current position."""
    return file_digest(f)


def why_damaged(run_dir: Path, kind: str, rel, sha256: str, size: int | None) -> str | None:
    """One phrase saying why an artifact is damaged (unsafe path, missing, size, checksum, unreadable), or None."""
    unsafe = why_unsafe(run_dir, rel)
    if unsafe:
        return f"{kind}: path {rel!r} {unsafe}"
    path = Path(run_dir) / rel
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return f"{kind}: file missing ({rel})"
    except OSError as exc:
        return f"{kind}: unreadable ({exc.strerror or exc})"
    with os.fdopen(fd, "rb") as f:
        actual = os.fstat(f.fileno()).st_size
        if size is not None and actual != int(size):
            return f"{kind}: checksum does not match the store ({actual} bytes, the store says {int(size)})"
        try:
            if sha256_fd(f) != sha256:
                return f"{kind}: checksum does not match the store"
        except OSError as exc:
            return f"{kind}: unreadable ({exc.strerror or exc})"
    return None


def is_commit_temp(name: str) -> bool:
    """A temporary file of :func:`sweeplab.store.sqlite.write_npz_tmp` (``.params.XXXX.tmp``)."""
    return name.endswith(".tmp") and name.startswith(tuple(f".{k}." for k in ARTIFACT_KINDS))


def remove_stale_temps(run_dir: Path) -> int:
    """Delete commit temporary files left by a killed run (call with the writer lock held).

    Only ``trials/<id>/.params.*.tmp`` and ``.predictions.*.tmp`` regular
    files are removed; symbolic links, other files and directories that are
    links are left alone. Returns the number of files removed.
    """
    trials = Path(run_dir) / TRIALS_DIR
    root = os.path.realpath(run_dir)
    if trials.is_symlink() or not trials.is_dir():
        return 0
    removed = 0
    for tdir in trials.iterdir():
        if tdir.is_symlink() or not TRIAL_ID_RE.match(tdir.name) or not tdir.is_dir():
            continue
        if not _inside(root, os.path.realpath(tdir)):
            continue
        for f in tdir.iterdir():
            if is_commit_temp(f.name) and not f.is_symlink() and f.is_file():
                try:
                    f.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def unlink_inside(run_dir: Path, rel) -> None:
    """Delete the stored path ``rel`` if it is a regular file inside ``run_dir``; otherwise do nothing."""
    if why_unsafe(run_dir, rel) is not None:
        return
    path = Path(run_dir) / rel
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            path.unlink()
    except OSError:
        pass


def check_dir_inside(run_dir: Path, directory: Path) -> None:
    """Raise ``ValueError`` if ``directory`` (existing) resolves outside ``run_dir``."""
    if not _inside(os.path.realpath(run_dir), os.path.realpath(directory)):
        raise ValueError(f"{directory}: leads outside the run directory (symbolic link)")
