"""A real local Ray cluster for the tests: a head and worker nodes on 127.0.0.1, started with
``ray start`` in a temporary directory, and ended by killing exactly the processes it started
(found by that directory in their command lines, and their children), never ``ray stop``
(which would end every Ray cluster of the user on this machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out |= {int(c) for c in (task / "children").read_text().split()}
    except OSError:
        pass
    return out


def _tree(pids: set[int]) -> set[int]:
    seen, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(_children(p))
    return seen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


class Cluster:
    def __init__(self, env: dict, workers: int = 2, cpus: int = 1) -> None:
        self.tmp = tempfile.mkdtemp(prefix="slray")  # short: Ray's socket paths must fit 107 bytes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**env, "RAY_USAGE_STATS_ENABLED": "0",
                    # notice a dead node in about 2 s, not 30 s
                    "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
                    "RAY_health_check_initial_delay_ms": "0", "RAY_health_check_timeout_ms": "500"}
        self.node_raylets: list[int] = []
        self._start("--head", f"--port={self.port}", f"--num-cpus={cpus}", f"--temp-dir={self.tmp}",
                    "--include-dashboard=false")
        for _ in range(workers):
            before = set(self._raylets())
            self._start(f"--address={self.address}", f"--num-cpus={cpus}")
            self.node_raylets += sorted(set(self._raylets()) - before)

    def _start(self, *args: str) -> None:
        r = subprocess.run([RAY, "start", *args, "--disable-usage-stats"], env=self.env, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")

    def pids(self) -> set[int]:
        mine = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and self.tmp in _cmdline(int(p.name))}
        return _tree(mine)

    def _raylets(self) -> list[int]:
        return [p for p in self.pids() if "/raylet/raylet" in _cmdline(p).split(" ")[0]]

    def kill_node(self, i: int = 0) -> None:
        """SIGKILL a worker node: its raylet and every process under it (its Ray workers)."""
        for p in _tree({self.node_raylets[i]}):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        pids = self.pids()
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + wait
            while any(_alive(p) for p in pids) and time.monotonic() < end:
                time.sleep(0.1)
        shutil.rmtree(self.tmp, ignore_errors=True)
