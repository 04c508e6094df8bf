"""Disk full and read-only file systems, on a small tmpfs: one line, the store intact, a resume afterwards.

Needs permission to mount a tmpfs (root, or a container that allows it);
skipped with the reason otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeplab.store import Store, StoreEnvironmentError, StoreError, finished_ids, load
from test_store import record, result


def _mount(target: Path, options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True)


def _remount(target: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(target)], check=True, capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path/fs`` (unmounted afterwards)."""
    target = tmp_path / "fs"
    target.mkdir()
    if sys.platform != "linux":
        pytest.skip("tmpfs mounts need Linux")
    try:
        done = _mount(target, "size=1m")
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _fill(fs: Path, leave: int = 0) -> Path:
    """Write a filler file until the file system is full (then free ``leave`` bytes)."""
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _big(tid: str):
    r = result(tid)
    r.params = {"w": np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)}  # 1 MiB
    return r


def test_no_space_while_writing_parameters(tmpfs):
    run_dir = tmpfs / "run"
    with Store(run_dir) as store:
        store.register([record("a"), record("b")])
        with pytest.raises(StoreEnvironmentError) as info:
            store.commit_group([result("a"), _big("b")])
        msg = str(info.value)
        assert "No space left on device" in msg and "\n" not in msg and "run the same command again" in msg
        assert store.finished_ids() == set()
        assert list(run_dir.rglob("*.tmp")) == []
        _remount(tmpfs, "size=8m")
        store.commit_group([result("a"), _big("b")])  # the same group, once there is room
        assert store.finished_ids() == {"a", "b"}
    assert load(run_dir).damaged_trials() == {}


@pytest.mark.parametrize("step", ["set_study", "register"])
def test_database_full_is_reported_not_masked_by_rollback(tmpfs, step):
    run_dir = tmpfs / "run"
    with Store(run_dir) as store:
        filler = _fill(tmpfs)
        with pytest.raises(StoreEnvironmentError) as info:
            if step == "set_study":
                store.set_study("big", "# comment\n" * 40_000, {})
            else:
                store.register([record(f"t{i:04d}", hidden=tuple(range(40))) for i in range(3000)])
        msg = str(info.value)
        assert "full" in msg and "rollback" not in msg and "\n" not in msg
        filler.unlink()
        store.set_study("small", "text", {})  # usable again once there is room
        assert load(run_dir).study["name"] == "small"


def _finished_store(run_dir: Path) -> None:
    with Store(run_dir) as store:
        store.register([record("a"), record("b")])
        store.commit_group([result("a"), result("b")])


def test_read_only_run_directory(tmpfs):
    run_dir = tmpfs / "run"
    _finished_store(run_dir)
    _remount(tmpfs, "ro")
    with pytest.raises(StoreEnvironmentError, match="Read-only file system"):
        Store(run_dir)
    assert finished_ids(run_dir) == {"a", "b"}  # reading still works
    assert load(run_dir).damaged_trials() == {}
    with pytest.raises(StoreEnvironmentError, match="Read-only"):
        Store(tmpfs / "new")


def test_wal_store_on_a_read_only_mount(tmpfs):
    run_dir = tmpfs / "run"
    _finished_store(run_dir)
    import sqlite3

    conn = sqlite3.connect(run_dir / "results.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")  # as a killed writer leaves it
    conn.close()
    _remount(tmpfs, "ro")
    run = load(run_dir)  # no -wal file: everything is in the main file, read as immutable
    assert len(run.trials) == 2
    np.testing.assert_array_equal(run.params("a")["dense_0/bias"], np.zeros(3))

    _remount(tmpfs, "rw")
    (run_dir / "results.sqlite-wal").write_bytes(b"")
    _remount(tmpfs, "ro")
    with pytest.raises(StoreError) as info:
        load(run_dir)
    assert "read-only" in str(info.value) and "not a sweeplab results store" not in str(info.value)


STUDY = """
[study]
name = "full"
seed = 0
repeats = 2

[data]
dataset = "digits"
validation_split = 0.2
test_size = 0.2

[model]
mlp = { hidden = [512], activation = "relu" }

[train]
optimizer = "adam"
batch_size = 64
epochs = 1

[sweep]
"train.learning_rate" = [0.001, 0.01]
"""


def test_cli_run_on_a_full_disk_is_one_line_and_resumes(tmpfs, tmp_path):
    study = tmp_path / "full.toml"
    study.write_text(STUDY)
    out = tmpfs / "run"
    cmd = [sys.executable, "-m", "sweeplab.cli", "run", str(study), "--out", str(out), "--no-report",
           "--max-group-size", "1"]
    env = {**os.environ, "SWEEPLAB_JAX_CACHE": str(tmp_path / "jax")}
    filler = _fill(tmpfs, leave=350_000)  # room for the store and about one trial (~170 KB each)
    full = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert full.returncode in (1, 2), full.stderr[-2000:]  # 1 once the CLI maps StoreEnvironmentError
    assert "Traceback" not in full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ("No space left" in errors[0] or "full" in errors[0]), full.stderr[-2000:]
    assert list(out.rglob("*.tmp")) == []
    filler.unlink()
    _remount(tmpfs, "size=32m")
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    run = load(out)
    assert len(run.trials) == 4 and set(run.trials["status"]) == {"finished"} and run.damaged_trials() == {}
