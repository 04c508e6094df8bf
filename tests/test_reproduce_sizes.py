"""``sweeplab reproduce SEED --size NAME``: named reduced sizes (data in reproduce/sizes/), labelled rows.

Small real runs (generated data; MNIST where present) through the same path as the full
command, with a test-only sizes file: the rows say what was reduced, and a row whose study
ran fewer epochs is compared only where the rule allows it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import sweeplab.reproduce.sizes as sizes
from sweeplab import values as V
from sweeplab.reproduce import load_published
from sweeplab.reproduce.command import list_seeds, reproduce
from sweeplab.reproduce.published import PublishedError
from sweeplab.reproduce.quick import load, seed_studies
from sweeplab.reproduce.sizes import Plateau, Reduction, load_size, reduce_study

CLI = [sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]
needs_mnist = pytest.mark.skipif(
    not (Path(os.environ.get("SWEEPLAB_DATA", "")) / "mnist").is_dir()
    and not (Path.home() / ".cache" / "sweeplab" / "mnist").is_dir(),
    reason="no local MNIST (set SWEEPLAB_DATA)")

TEST_SIZES = {
    "seed002.toml": '''
[size."tiny-test"]
summary = "a test size"
[size."tiny-test".study."seed002-initializers"]
why = "test"
epochs = 2
params = { n_samples = 400 }
sweep = { "model.mlp.kernel_initializer" = ["zeros", "ones", "orthogonal"] }
plateau = [{ setting = { "model.mlp.kernel_initializer" = "zeros" }, from = 2, quote = "flat from the start" }]
[size."tiny-test".study."seed002-samples"]
why = "test"
skip = "not in this test"
''',
    "seed001.toml": '''
[size."tiny-test"]
summary = "a test size"
[size."tiny-test".study."seed001-depth-activation"]
why = "test"
epochs = 2
subsample = 300
sweep = { "model.mlp.depth" = [4], "model.mlp.activation" = ["relu"] }
''',
}


@pytest.fixture
def test_sizes(tmp_path, monkeypatch):
    d = tmp_path / "sizes"
    d.mkdir()
    for name, text in TEST_SIZES.items():
        (d / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(sizes, "sizes_dir", lambda: d)
    return d


def _rows(md: str) -> dict[str, list[str]]:
    out = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| id "):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if len(cells) == 8:
                out[cells[0]] = cells
    return out


def test_size_run_labels_every_row_and_judges_by_the_reduction(tmp_path, test_sizes):
    md_path = reproduce("002", tmp_path / "out", size="tiny-test", only=["seed002-initializers", "seed002-samples"])
    assert md_path == tmp_path / "out" / "seed002-tiny-test" / "reproduction.md"  # never mixed with a full tree
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("> **Size tiny-test — a reduced reproduction, not the full one.**")
    assert "Command: `sweeplab reproduce 002 --size tiny-test`" in md
    assert "**Reduced at size tiny-test:** 2 of 100 epochs, 3 of 6 configurations, dataset n_samples = 400." in md
    rows = _rows(md)
    # epochs cut, but the report says the curve is flat by then: judged, and says why
    for rid in ("T3-zeros-loss", "T3-zeros-acc"):
        verdict = rows[rid][6]
        assert re.match(r"(agrees|differs)", verdict), verdict
        assert "(reduced: 2 of 100 epochs" in verdict and "flat from epoch 2" in verdict
        assert rows[rid][5].endswith("(n = 3)")
    # epochs cut, the report gives the value only at its own (unstated) end: not comparable
    for rid in ("T3-ones-acc", "T3-orthogonal-loss"):
        verdict = rows[rid][6]
        assert verdict.startswith("not comparable: the report gives no value at epoch 2"), verdict
        assert "(reduced: 2 of 100 epochs" in verdict and rows[rid][5] == ""
    # a configuration the reduced sweep leaves out
    assert rows["T3-random_normal-acc"][6].startswith("not comparable: this setting is not run at tiny-test (reduced:")
    # a study the size does not run
    assert rows["fig3-samples"][6].startswith("not comparable")
    assert "**Reduced at size tiny-test:** not run. Why: not in this test" in md
    html = md_path.with_suffix(".html").read_text(encoding="utf-8")
    assert "Size tiny-test — a reduced reproduction" in html
    # the published page says a skipped study's reason once, without "not run: not run"
    from sweeplab.reproduce.publish import publish
    page = publish(md_path.parent, tmp_path / "docs").read_text(encoding="utf-8")
    assert "| seed002-samples | — | — | — | not run: at size tiny-test: not in this test |" in page
    section = page.split("### seed002-samples", 1)[1].split("\n### ", 1)[0]
    assert section.count("not in this test") == 1 and "Reduced at size" not in section, section


@needs_mnist
def test_rows_read_at_an_epoch_are_compared_only_when_that_epoch_ran(tmp_path, test_sizes):
    md = reproduce("001", tmp_path, size="tiny-test", only=["seed001-depth-activation"]).read_text(encoding="utf-8")
    rows = _rows(md)
    for e in (1, 2):
        verdict = rows[f"fig1-L5-relu-e{e}-val-acc"][6]
        assert re.match(r"(agrees|differs)", verdict), verdict
        assert f"the report reads it at epoch {e}" in verdict and "300 training images" in verdict
    assert rows["fig1-L5-relu-e3-val-acc"][6].startswith(
        "not comparable: the report reads it at epoch 3; this size runs 2 epochs (reduced: 2 of 3 epochs")
    assert rows["fig2-L5-tanh-e1-val-acc"][6].startswith("not comparable: this setting is not run")


def _es_run(epochs_run, stopped):
    trials = pd.DataFrame({"trial_id": ["a", "b", "c"], "data.dataset": ["mnist"] * 3,
                           "epochs_run": epochs_run, "stopped_epoch": stopped})
    return SimpleNamespace(trials=trials)


def test_early_stopping_before_the_reduced_cap_is_as_at_full_size():
    row = SimpleNamespace(at="final", setting={"data.dataset": "mnist"}, baseline=None)
    red = Reduction("s", "why", epochs=15)
    reduced = SimpleNamespace(spec=SimpleNamespace(train=SimpleNamespace(early_stopping=object())))
    ok = "early stopping ended every trial by the cap of 15"
    assert ok in sizes._epochs_ok(row, 15, red, reduced, _es_run([9, 12, 11], [9, 12, 11]))
    assert ok in sizes._epochs_ok(row, 15, red, reduced, _es_run([9, 15, 11], [9, 15, 11]))  # stopped at the cap
    assert sizes._epochs_ok(row, 15, red, reduced, _es_run([9, 15, 11], [9, None, 11])) is None  # one ran out
    no_es = SimpleNamespace(spec=SimpleNamespace(train=SimpleNamespace(early_stopping=None)))
    assert sizes._epochs_ok(row, 15, red, no_es, _es_run([9, 12, 11], [9, 12, 11])) is None
    flat = Reduction("s", "why", epochs=15, plateaus=(Plateau({"data.dataset": "mnist"}, 16, "q"),))
    assert sizes._epochs_ok(row, 15, flat, no_es, None) is None  # flat only from epoch 16


@pytest.mark.parametrize("seed", ["003", "004"])
def test_faithful_1h_keeps_three_seeds_and_says_what_each_row_loses(seed):
    pub = load_published(seed)
    size = load_size(seed, "faithful-1h", seed_studies(pub))
    for name in seed_studies(pub):
        red = size.reduction(name)
        if red is None or red.skip:
            continue
        full = load(name, pub, None)
        small = reduce_study(full, red)
        assert small.spec.study.repeats >= 3, name
        assert len(small.trials) < len(full.trials) or red.params or red.epochs
        rows = [r for r in pub.rows if r.study == name and r.comparable]
        kept = [r for r in rows if any(all(V.same(sizes._swept(t.config, list(r.setting))[k], v)
                                           for k, v in r.setting.items()) for t in small.trials)]
        assert kept, f"{name}: the size keeps no published row"
    assert all(size.reduction(n) is None or size.reduction(n).skip or size.reduction(n).why for n in seed_studies(pub))


def test_seed002_faithful_1h_is_gridsearchcvs_own_protocol_and_resumes_from_a_full_run():
    """Seed 002's grid search at faithful-1h: one repeat x 5 folds per configuration, as the
    report's GridSearchCV (n = 5 per row), every other study at full size; and its trials are the
    full run's repeat-0 trials (same ids), so a full run's store resumes into it without retraining."""
    pub = load_published("002")
    size = load_size("002", "faithful-1h", seed_studies(pub))
    assert [n for n in seed_studies(pub) if size.reduction(n) is not None] == ["seed002-grid-search"]
    full = load("seed002-grid-search", pub, None)
    small = reduce_study(full, size.reduction("seed002-grid-search"))
    assert (small.spec.study.repeats, small.spec.train.cross_validation) == (1, 5)
    assert len(small.trials) == 7500 and len(full.trials) == 22500
    per_config: dict = {}
    for t in small.trials:
        per_config.setdefault(t.config_id, []).append(t.fold)
    assert len(per_config) == 1500 and all(sorted(f) == [0, 1, 2, 3, 4] for f in per_config.values())
    full_ids = {t.trial_id for t in full.trials if t.repeat == 0}
    assert {t.trial_id for t in small.trials} == full_ids
    # the --list estimate charges each trial of a group: a third of the trials in as many groups is
    # well under half the time (the model without a per-trial cost gave 15 vs 12 min; measured ~3x)
    from sweeplab.reproduce.command import estimate
    assert estimate(full)[1] > 2 * estimate(small)[1]


def test_list_shows_the_reduced_estimate_beside_the_full_one():
    lines = list_seeds(["003"], quick=False)
    cnn = next(x for x in lines if x.strip().startswith("seed003-cnn"))
    assert re.search(r"9 trials .* ~[\d.]+ h\s+\| faithful-1h: 3 trials ~\d+ min \(20 of 100 epochs", cnn), cnn
    total = next(x for x in lines if x.strip().startswith("faithful-1h:"))
    assert re.search(r"faithful-1h: ~\d+ min \(estimate\): sweeplab reproduce 003 --size faithful-1h", total)


def test_bad_size_is_one_line_exit_2(tmp_path):
    for args in (["003", "--size", "nope"], ["003", "--size", "faithful-1h", "--quick"],
                 ["000", "--size", "faithful-1h"], ["--list", "--size", "nope"]):
        r = subprocess.run(CLI + ["reproduce", *args, "--out", str(tmp_path)], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not any(tmp_path.iterdir())


def test_bad_sizes_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "sizes_dir", lambda: tmp_path)
    (tmp_path / "seed002.toml").write_text('[size."x"]\nsummary = "s"\n[size."x".study."seed002-samples"]\n'
                                           'why = "w"\nepochs = 0\n', encoding="utf-8")
    with pytest.raises(PublishedError, match=r"^seed002.toml: size 'x': study 'seed002-samples': field 'epochs': 0: "
                                             r"accepted: an integer >= 1$"):
        load_size("002", "x")


def test_a_reduced_sweep_must_stay_inside_the_full_study():
    pub = load_published("002")
    full = load("seed002-initializers", pub, None)
    with pytest.raises(PublishedError, match="configurations of the full study"):
        reduce_study(full, Reduction("seed002-initializers", "w",
                                     sweep={"model.mlp.kernel_initializer": ["he_normal"]}))
