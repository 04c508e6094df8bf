"""A conformance suite every results-store backend must pass (optuna's ``StorageTestCase`` habit).

A backend is a writer (``register``, ``set_study``, ``commit_group``,
``finished_ids``, ``verify_artifacts``, ``reset_trials``, ``close``; see
:class:`sweeplab.store.Store`) and a reader with :class:`sweeplab.store.Run`'s
surface (``trials``, ``epochs``, ``axes``, ``study``, ``history``,
``config``, ``params``, ``predictions``, ``damaged_trials``). Subclass
:class:`StoreConformance` in a test module and say how to open both::

    from sweeplab.store.testing import StoreConformance

    class TestMyBackend(StoreConformance):
        def writer(self, run_dir):
            return MyStore(run_dir)

        def reader(self, run_dir, all=False):
            return my_load(run_dir, all=all)

        def finished(self, run_dir):
            return my_finished_ids(run_dir)

        def damage(self, run_dir, trial_id):
            ...  # change the saved parameters of one finished trial behind the store's back

pytest then runs every ``test_*`` method below against the backend:
round trip through the reader, registration, all-or-nothing groups, resume,
damaged-file detection, the current study's trials, never pickling.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from .errors import StoreError
from sweeplab.records import DIVERGED, FINISHED, PENDING, TrialRecord, TrialResult

__all__ = ["StoreConformance", "make_record", "make_result"]


def make_record(trial_id: str, *, units: int = 8, seed: int = 0, group: str = "g") -> TrialRecord:
    """A planned trial of a one-axis sweep (``model.mlp.hidden``)."""
    config = {"data": {"dataset": "digits"}, "model": {"mlp": {"hidden": [units]}}, "train": {"epochs": 2}}
    return TrialRecord(trial_id, config, {"model.mlp.hidden": [units]}, f"c{units}", seed, seed, None, group)


def make_result(trial_id: str, *, status: str = FINISHED, acc: float = 0.9, files: bool = True) -> TrialResult:
    """A trained trial: two epochs of history, test metrics and (``files``) parameters and predictions."""
    rng = np.random.default_rng(zlib.crc32(trial_id.encode()))
    loss = [0.7, float("nan") if status == DIVERGED else 0.4]
    return TrialResult(
        trial_id=trial_id, status=status, epochs_run=2,
        history={("train", "loss"): loss, ("train", "accuracy"): [0.5, acc], ("val", "loss"): [0.8, 0.5]},
        test={} if status == DIVERGED else {"accuracy": acc, "loss": 0.45},
        final={"train_loss": loss[-1], "val_loss": 0.5}, confusion={"output": [[3, 1], [0, 4]]},
        epoch_seconds=[1.5, 0.2, 0.2], compile_seconds=1.3, n_params=42,
        diverged_epoch=2 if status == DIVERGED else None,
        params={"dense_0/kernel": rng.normal(size=(3, 2)).astype(np.float32), "dense_0/bias": np.zeros(2, np.int64)}
        if files else None,
        predictions={"y_true/output": np.array([0, 1, 1], np.int32), "proba/output": rng.random((3, 2))}
        if files else None,
    )


class StoreConformance:
    """The contract of a results-store backend, as pytest tests (subclass it; see the module docstring)."""

    # ---- what a backend provides

    def writer(self, run_dir: Path):
        """A writer handle on ``run_dir`` (a context manager), created if needed."""
        raise NotImplementedError

    def reader(self, run_dir: Path, all: bool = False):  # noqa: A002 - mirrors --all
        """The read-only reader of ``run_dir`` (``all``: every trial ever stored)."""
        raise NotImplementedError

    def finished(self, run_dir: Path) -> set[str]:
        """The trials a resume skips, read without writing (damaged ones excluded)."""
        raise NotImplementedError

    def damage(self, run_dir: Path, trial_id: str) -> None:
        """Change the saved parameters of ``trial_id`` behind the store's back."""
        raise NotImplementedError

    # ---- helpers

    def _filled(self, run_dir: Path) -> Path:
        with self.writer(run_dir) as w:
            w.register([make_record("a", units=8), make_record("b", units=8, seed=1), make_record("c", units=16),
                        make_record("p", units=32)])
            w.commit_group([make_result("a", acc=0.9), make_result("b", acc=0.8),
                            make_result("c", status=DIVERGED)])
        return run_dir

    # ---- the contract

    def test_round_trip_through_the_reader(self, tmp_path):
        run_dir = self._filled(tmp_path / "run")
        run = self.reader(run_dir)
        t = run.trials.set_index("trial_id")
        assert list(t.index) == ["a", "b", "c", "p"]  # registration order
        assert dict(t["status"]) == {"a": FINISHED, "b": FINISHED, "c": DIVERGED, "p": PENDING}
        assert list(run.axes) == ["model.mlp.hidden"]
        assert t.loc["a", "model.mlp.hidden"] == (8,) and t.loc["c", "model.mlp.hidden"] == (16,)
        assert t.loc["a", "test_accuracy"] == 0.9 and t.loc["b", "test_accuracy"] == 0.8
        assert math.isnan(t.loc["c", "test_accuracy"])
        assert t.loc["a", "config_id"] == "c8" and int(t.loc["b", "seed"]) == 1 and int(t.loc["a", "n_params"]) == 42
        assert int(t.loc["c", "diverged_epoch"]) == 2 and int(t.loc["a", "epochs_run"]) == 2
        h = run.history("a")
        assert list(h.index) == [1, 2] and h.loc[2, "train_accuracy"] == 0.9 and h.loc[1, "val_loss"] == 0.8
        assert math.isnan(run.history("c").loc[2, "train_loss"])  # a non-finite value comes back as NaN
        e = run.epochs
        assert set(e.columns) >= {"trial_id", "epoch", "split", "metric", "value"}
        assert set(e["trial_id"]) == {"a", "b", "c"}
        assert run.config("a") == make_record("a").config
        expected = make_result("a")
        params = run.params("a")
        assert set(params) == set(expected.params)
        for k, v in expected.params.items():
            np.testing.assert_array_equal(params[k], v)
            assert params[k].dtype == v.dtype
        np.testing.assert_array_equal(run.predictions("a")["proba/output"], expected.predictions["proba/output"])
        with pytest.raises(StoreError, match="'p'"):
            run.params("p")  # pending: nothing saved
        with pytest.raises(StoreError, match="'nope'"):
            run.config("nope")

    def test_register_twice_keeps_one_pending_row(self, tmp_path):
        with self.writer(tmp_path) as w:
            w.register([make_record("a")])
            w.register([make_record("a"), make_record("b", units=16)])
            assert w.finished_ids() == set()
        t = self.reader(tmp_path).trials
        assert list(t["trial_id"]) == ["a", "b"] and set(t["status"]) == {PENDING}

    def test_finished_ids_are_finished_and_diverged(self, tmp_path):
        run_dir = self._filled(tmp_path)
        assert self.finished(run_dir) == {"a", "b", "c"}
        with self.writer(run_dir) as w:
            assert w.finished_ids() == {"a", "b", "c"}

    def test_a_group_is_committed_whole_or_not_at_all(self, tmp_path):
        with self.writer(tmp_path) as w:
            w.register([make_record("a"), make_record("b")])
            with pytest.raises(StoreError, match="not registered"):
                w.commit_group([make_result("a"), make_result("b"), make_result("ghost")])
            with pytest.raises(StoreError):
                w.commit_group([make_result("a"), make_result("a")])
            assert w.finished_ids() == set()
        run = self.reader(tmp_path)
        assert set(run.trials["status"]) == {PENDING} and run.epochs.empty
        with pytest.raises(StoreError):
            run.params("a")

    def test_resume_reopens_and_recommits(self, tmp_path):
        run_dir = self._filled(tmp_path)
        with self.writer(run_dir) as w:  # a second run: the same trials, trained again
            assert w.finished_ids() == {"a", "b", "c"}
            w.register([make_record("a"), make_record("p", units=32)])
            w.commit_group([make_result("a", acc=0.95), make_result("p", acc=0.7)])
        run = self.reader(run_dir)
        t = run.trials.set_index("trial_id")
        assert t.loc["a", "test_accuracy"] == 0.95 and t.loc["p", "status"] == FINISHED
        assert len(run.history("a")) == 2  # epochs replaced, not appended
        assert self.finished(run_dir) == {"a", "b", "c", "p"}

    def test_damaged_files_are_detected_and_trained_again(self, tmp_path):
        run_dir = self._filled(tmp_path)
        self.damage(run_dir, "a")
        run = self.reader(run_dir)
        damaged = run.damaged_trials()
        assert set(damaged) == {"a"} and "params" in damaged["a"]
        with pytest.raises(StoreError):
            run.params("a")
        np.testing.assert_array_equal(run.params("b")["dense_0/bias"], np.zeros(2))  # the others still load
        assert self.finished(run_dir) == {"b", "c"}  # a resume trains it again
        with self.writer(run_dir) as w:
            assert w.verify_artifacts(["a", "b"]) == {"a": damaged["a"]}
            w.reset_trials(["a"])
            w.commit_group([make_result("a")])
        assert self.reader(run_dir).damaged_trials() == {}

    def test_readers_see_the_current_study_unless_all(self, tmp_path):
        run_dir = self._filled(tmp_path)
        with self.writer(run_dir) as w:
            w.set_study("demo", "[study]\nname = 'demo'\n", {"study": {"name": "demo"}}, ["a", "b"])
        run = self.reader(run_dir)
        assert run.study["name"] == "demo" and run.study["spec_json"] == {"study": {"name": "demo"}}
        assert list(run.trials["trial_id"]) == ["a", "b"]
        assert set(run.epochs["trial_id"]) == {"a", "b"}
        assert list(self.reader(run_dir, all=True).trials["trial_id"]) == ["a", "b", "c", "p"]

    def test_never_pickles(self, tmp_path):
        with self.writer(tmp_path) as w:
            w.register([make_record("a")])
            bad = make_result("a")
            bad.params = {"w": np.array([{"x": 1}], dtype=object)}
            with pytest.raises(StoreError, match="dtype object"):
                w.commit_group([bad])
            assert w.finished_ids() == set()

    def test_no_store_is_one_error_and_creates_nothing(self, tmp_path):
        missing = tmp_path / "nowhere"
        with pytest.raises(StoreError):
            self.reader(missing)
        assert not missing.exists()
        assert self.finished(missing) == set()
        assert not missing.exists()
