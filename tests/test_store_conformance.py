"""The store conformance suite (``sweeplab.store.testing``) run against the SQLite store."""

from __future__ import annotations

from sweeplab.store import Store, finished_ids, load
from sweeplab.store.testing import StoreConformance


class TestSQLiteStore(StoreConformance):
    def writer(self, run_dir):
        return Store(run_dir)

    def reader(self, run_dir, all=False):  # noqa: A002
        return load(run_dir, all=all)

    def finished(self, run_dir):
        return finished_ids(run_dir)

    def damage(self, run_dir, trial_id):
        path = run_dir / "trials" / trial_id / "params.npz"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
