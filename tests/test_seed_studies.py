"""Every built-in study (quickstart and the seed-report studies) validates and plans.

Fast: nothing is trained. ``load_study`` checks the schema and expands the sweep;
``plan`` groups the trials into compiled programs, which needs the dataset's shapes,
so planning is skipped (with the reason) when a downloadable dataset has no local copy
(``SWEEPLAB_DATA``, see docs/seeds.md). Generated datasets (clocks) are planned on a
small copy of the same study (rendered into a temporary folder) so the test does not
render 18,000 clock faces.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from sweeplab.spec.expand import builtin_studies, load_study, study_from_text

STUDIES = builtin_studies()
SEED_STUDIES = sorted(name for name in STUDIES if name.startswith("seed"))

# Trials per seed study: configurations x repeats (x folds). A change here is a change to
# what a study reproduces, so it must be deliberate (and docs/seeds.md updated).
EXPECTED_TRIALS = {
    "seed000-batch-size": 15,
    "seed000-activation": 9,
    "seed000-hidden-units": 12,
    "seed000-optimizers": 24,
    "seed000-best": 3,
    "seed001-depth-activation": 27,
    "seed001-lecun-tanh": 18,
    "seed001-cnn": 3,
    "seed002-samples": 54,
    "seed002-augmentation": 21,
    "seed002-initializers": 18,
    "seed002-grid-search": 22500,
    "seed002-search": 4500,  # a TPE search: 300 configurations x 3 repeats x 5 folds, made as it runs
    "seed003-batch-size": 15,
    "seed003-hidden": 27,
    "seed003-multiclass": 3,
    "seed003-cnn": 9,
    "seed004-mlp-optimizers": 42,
    "seed004-mlp-activations": 42,
    "seed004-mlp-initializers": 36,
    "seed004-cnn-optimizers": 42,
    "seed004-cnn-activations": 42,
    "seed004-cnn-initializers": 36,
    "seed004-permutation": 24,
    "seed004-clocks": 9,
    "seed004-clocks-optimizers": 21,
    # beyond the reports (issue 12): selection on validation, 3 seeds
    "seed000-improved": 12,
    "seed002-improved": 18,
    "seed003-improved": 6,
    "seed004-improved-mlp": 6,
    "seed004-improved-cnn": 6,
    "seed004-improved-clocks": 6,
}


def _has_local_copy(dataset: str) -> bool:
    """True when the files of a downloadable dataset are already on disk."""
    from sweeplab.data.registry import DATASETS

    entry = DATASETS.get(dataset)
    if entry.meta.get("kind") != "download":
        return True
    roots = [Path(os.environ["SWEEPLAB_DATA"])] if os.environ.get("SWEEPLAB_DATA") else []
    roots.append(Path.home() / ".cache" / "sweeplab")
    names = [f.name for files in entry.meta["files"].values() for f in files]
    dirs = [r / entry.name for r in roots] + [Path(d) for d in entry.meta.get("system_dirs", [])]
    return any(all((d / n).is_file() for n in names) for d in dirs)


def _datasets(study) -> set[str]:
    return {t.config["data"]["dataset"] for t in study.trials}


def test_seed_studies_are_builtin():
    assert set(SEED_STUDIES) == set(EXPECTED_TRIALS), (
        "built-in seed studies and EXPECTED_TRIALS disagree: "
        f"missing {sorted(set(EXPECTED_TRIALS) - set(SEED_STUDIES))}, "
        f"unexpected {sorted(set(SEED_STUDIES) - set(EXPECTED_TRIALS))}")


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_builtin_study_validates(name):
    study = load_study(name)
    assert study.name == name, "a built-in study's [study] name must equal its file name"
    n = (study.spec.search.n_trials * study.spec.study.repeats * (study.spec.train.cross_validation or 1)
         if study.spec.is_search else len(study.trials))
    assert n and (study.trials or study.spec.is_search)
    if name.startswith("seed"):
        assert study.spec.study.repeats == 3
        desc = study.spec.study.description
        assert re.match(r"Seed 00\d ", desc), f"description must cite the seed report: {desc!r}"
        assert n == EXPECTED_TRIALS[name]


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_builtin_study_plans(name, tmp_path, monkeypatch):
    from sweeplab.engine.run import plan

    study = load_study(name)
    missing = sorted(d for d in _datasets(study) if not _has_local_copy(d))
    if missing:
        pytest.skip(f"no local copy of {', '.join(missing)} (set SWEEPLAB_DATA); planning needs the data")
    if "clocks" in _datasets(study):
        # Same study on 200 clock faces: planning renders the dataset, into a scratch
        # data folder so that no cache file is written into the user's data folder.
        monkeypatch.setenv("SWEEPLAB_DATA", str(tmp_path))
        raw = Path(study.source).read_text(encoding="utf-8")
        raw = raw.replace('dataset = "clocks"', 'dataset = "clocks"\nparams = { n_images = 200 }', 1)
        assert "n_images = 200" in raw
        study = study_from_text(raw, study.source)
    if study.spec.is_search:  # its trials are made as it runs: check the search plan against the data
        from sweeplab.engine.search import search_plan

        assert search_plan(study).batch >= 1
        return
    groups = plan(study)
    planned = [t.trial_id for g in groups for t in g.trials]
    assert sorted(planned) == sorted(t.trial_id for t in study.trials), "every trial in exactly one group"
    assert len(groups) <= len(study.trials)


def test_seed_study_settings_match_reports():
    """Spot checks of settings the reports state explicitly."""
    def raw(name):
        return tomllib.loads(STUDIES[name].read_text(encoding="utf-8"))

    bs = raw("seed000-batch-size")
    assert bs["data"]["validation_split"] == 0.4 and bs["train"]["epochs"] == 100
    assert bs["sweep"]["train.batch_size"] == [32, 64, 128, 1024, "full"]
    opt = raw("seed000-optimizers")
    assert opt["train"]["batch_size"] == 30 and len(opt["sweep"]["train.optimizer"]) == 8
    d = raw("seed001-depth-activation")
    assert d["train"]["gradient_norms"] is True and d["train"]["learning_rate"] == 0.01
    assert d["sweep"]["model.mlp.depth"] == [4, 19, 39]  # 5/20/40 dense layers incl. output
    g = raw("seed002-grid-search")
    assert g["train"]["cross_validation"] == 5 and g["model"]["mlp"]["kernel_initializer"] == "zeros"
    s3 = raw("seed003-batch-size")
    assert s3["data"]["validation_split"] == 0.2 and s3["train"]["learning_rate"] == 0.01
    assert s3["data"]["task"]["positive"] == [0]
    p = raw("seed004-permutation")
    assert p["sweep"]["data.permute_pixels"] == [False, True]
    c = raw("seed004-clocks")
    assert [h["name"] for h in c["model"]["heads"]] == ["hour", "minute"]


def test_seed001_parameter_count_matches_report():
    """The report prints 28,618 parameters for its 5-layer, 32-unit network."""
    from sweeplab.trial import summary_table

    study = load_study("seed001-depth-activation")
    first = next(t for t in study.trials if t.config["model"]["mlp"]["depth"] == 4)
    if not _has_local_copy("mnist"):
        pytest.skip("no local MNIST copy (set SWEEPLAB_DATA)")
    _, total = summary_table(first.config, study.spec.study.seed)
    assert total == 28618
