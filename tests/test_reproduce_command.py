"""``sweeplab reproduce``: runs a seed's studies, writes reproduction.md/.html, resumes, lists.

The normal suite runs one study of seed 000 and one of seed 002 (generated data, no download)
with the test-only TINY profile (the same path as ``--quick``, smaller). ``--quick`` of whole
seeds is under the ``slow`` marker:
measured on the 2-core development machine (shared), see docs/reproductions/README.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeplab.reproduce import load_published
from sweeplab.reproduce.clocks import time_errors, wrapped
from sweeplab.reproduce.command import reproduce
from sweeplab.reproduce.document import to_html
from sweeplab.reproduce.quick import QUICK, TINY, load, reduce_raw, seed_studies

CLI = [sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]
VERDICT = re.compile(r"^(agrees|differs|not comparable)\b")
needs_mnist = pytest.mark.skipif(
    not (Path(os.environ.get("SWEEPLAB_DATA", "")) / "mnist").is_dir()
    and not (Path.home() / ".cache" / "sweeplab" / "mnist").is_dir(),
    reason="no local MNIST (set SWEEPLAB_DATA)")


def _sweeplab(*args, cwd=None):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=cwd, timeout=3600)


def _table_rows(md: str) -> list[list[str]]:
    rows = []
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| id ") and not line.startswith("| study "):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return rows


def _check_reproduction(md_path: Path, seed: str, label: str, run_studies: set[str] | None = None):
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith(f"> **{label} — not a reproduction.**")
    pub = load_published(seed)
    rows = {r[0]: r for r in _table_rows(md) if len(r) == 8}
    assert set(rows) == {r.id for r in pub.rows}, "one table row per published number"
    for r in pub.rows:
        verdict = rows[r.id][6]
        assert VERDICT.match(verdict), (r.id, verdict)
        if r.comparable and (run_studies is None or r.study in run_studies) and rows[r.id][5]:
            assert "(n = 2)" in rows[r.id][5], rows[r.id]
    html = md_path.with_suffix(".html").read_text(encoding="utf-8")
    assert "<table>" in html and f"{label} — not a reproduction." in html
    return md, rows


@needs_mnist
def test_tiny_reproduction_of_one_study_then_resume(tmp_path):
    # The normal suite's end-to-end check: one study of seed 000, TINY profile.
    study = "seed000-batch-size"
    md_path = reproduce("000", tmp_path, profile=TINY, only=[study])
    assert md_path == tmp_path / "seed000" / "reproduction.md"
    md, rows = _check_reproduction(md_path, "000", "TINY", {study})
    ours = rows["fig2m-full-batch-val-acc"]
    assert ours[5].endswith("% (n = 2)") and VERDICT.match(ours[6]) and not ours[6].startswith("not comparable")
    assert rows["T1-relu-acc"][6] == "not comparable: study not run"
    assert "trained 2, skipped 0 finished" in md
    # resume: the normal run path skips finished trials
    reproduce("000", tmp_path, profile=TINY, only=[study])
    again = md_path.read_text(encoding="utf-8")
    assert "trained 0, skipped 2 finished" in again
    assert _table_rows(again) == _table_rows(md)


def test_tiny_reproduction_needs_no_download(tmp_path):
    # generated data only (seed 002's initializer table): runs wherever the suite runs
    md_path = reproduce("002", tmp_path, profile=TINY, only=["seed002-initializers"])
    md, rows = _check_reproduction(md_path, "002", "TINY", {"seed002-initializers"})
    judged = [r for r in rows.values() if r[0].startswith("T3-")]
    assert len(judged) == 12 and all(not r[6].startswith("not comparable") for r in judged)


def test_bad_seed_is_one_line_exit_2(tmp_path):
    for args in (["007"], ["abc", "--quick"], ["002", "--study", "seed000-best"]):
        r = _sweeplab("reproduce", *args, "--out", str(tmp_path))
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())


def test_list_shows_studies_trials_and_estimates():
    r = _sweeplab("reproduce", "002", "--list", "--quick")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "estimate" in out and "QUICK" in out
    for name in seed_studies(load_published("002")):
        line = next(x for x in out.splitlines() if x.strip().startswith(name))
        assert re.search(r"\d+ trials\s+[\d,]+ trial-steps\s+~\d+ (s|min|h)", line), line
    assert re.search(r"total: ~\d+ (s|min|h) \(estimate\)", out)


# ---------------------------------------------------------------------------- the quick reduction

def test_quick_keeps_every_published_setting():
    # every comparable row still finds exactly its configuration in the reduced sweep
    from sweeplab import values as V

    for seed in ("000", "001", "002", "003", "004"):
        pub = load_published(seed)
        for name in seed_studies(pub):
            study = load(name, pub, QUICK)
            at = max([2] + [r.at for r in pub.rows if r.study == name and isinstance(r.at, int)])
            assert study.spec.study.repeats == 2 and study.spec.train.epochs <= at
            for r in pub.rows:
                if r.study != name or not r.comparable:
                    continue
                for setting in [r.setting] + ([r.baseline] if r.baseline else []):
                    hits = {t.config_id for t in study.trials
                            if all(V.same(_at(t.config, k), v) for k, v in setting.items())}
                    assert len(hits) == 1, (seed, r.id, setting)


def _at(config, path):
    node = config
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return None
    return node


def test_quick_grid_search_runs_only_the_published_configurations():
    pub = load_published("002")
    full, quick = load("seed002-grid-search", pub, None), load("seed002-grid-search", pub, QUICK)
    assert len(full.trials) > 10_000
    assert len({t.config_id for t in quick.trials}) == 3


def test_quick_keeps_the_epochs_a_row_is_read_at():
    pub = load_published("003")
    assert load("seed003-batch-size", pub, QUICK).spec.train.epochs == 5  # Table I is read at epoch 5
    assert load("seed003-multiclass", pub, QUICK).spec.train.epochs == 2


def test_reduce_raw_cuts_data_and_epochs():
    raw = {"study": {"name": "x", "repeats": 3}, "data": {"dataset": "mnist"}, "train": {"epochs": 100},
           "sweep": {"train.batch_size": [32, 64, 128]}}
    out = reduce_raw(raw, [], QUICK)
    assert out["train"]["epochs"] == 2 and out["study"]["repeats"] == 2
    assert out["data"]["subsample"] == QUICK.subsample and out["sweep"] == {"train.batch_size": [32]}
    assert raw["train"]["epochs"] == 100  # the input is not changed


# ---------------------------------------------------------------------------- tell-the-time errors

def test_time_errors_wrap_at_the_hour_and_at_12_hours():
    scale = 1 / 60
    preds = {"y_true/hour": np.array([11, 3, 0]), "y_pred/hour": np.array([0, 3, 11]),
             "y_true/minute": np.array([58, 59, 1]) * scale, "y_pred/minute": np.array([1, 1, 59]) * scale}
    e = time_errors(preds, scale)
    # 11:58 read as 0:01 is 3 min; 3:59 as 3:01 is 58 min; 0:01 as 11:59 is 2 min
    assert e["time_error"] == pytest.approx((3 + 58 + 2) / 3)
    assert e["minute_error"] == pytest.approx((57 + 58 + 58) / 3)
    assert e["minute_error_cyclic"] == pytest.approx((3 + 2 + 2) / 3)
    assert e["hour_accuracy"] == pytest.approx(1 / 3)


def test_wrapped_is_the_shorter_way_round():
    np.testing.assert_allclose(wrapped(np.array([0, 359, 361, -719, 720, 1080]), 720), [0, 359, 359, 1, 0, 360])


def test_html_renders_the_markdown_subset():
    page = to_html("> **QUICK — x** y\n\n# T\n\n| a | b |\n|---|---|\n| 1 \\| 2 | `c` |\n\n- one\n- two\n\n"
                   "![p](own-digit.jpg)\n", "t")
    assert "<blockquote><strong>QUICK — x</strong> y</blockquote>" in page
    assert "<td>1 | 2</td><td><code>c</code></td>" in page and "<li>two</li>" in page
    assert '<img alt="p" src="own-digit.jpg">' in page and "<h1>T</h1>" in page


# ---------------------------------------------------------------------------- whole seeds, --quick

@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("seed", ["000", "001", "002", "003", "004"])
def test_quick_reproduction_of_a_seed(tmp_path, seed):
    r = _sweeplab("reproduce", seed, "--quick", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    md, rows = _check_reproduction(tmp_path / f"seed{seed}" / "reproduction.md", seed, "QUICK")
    if seed == "001":
        svhn = [r.id for r in load_published("001").rows if r.study == "seed001-cnn" and r.comparable]
        assert svhn and all("no local copy of svhn" in rows[i][6] for i in svhn)
        assert "![photo-like digit](own-digit.jpg)" in md and "Prediction (top 3)" in md
        assert (tmp_path / "seed001" / "own-digit.jpg").is_file()
        assert (tmp_path / "seed001" / "own-digit-seen.png").is_file()
    if seed == "004":
        assert "common-sense error (min)" in md
    # a second run skips every finished trial
    r2 = _sweeplab("reproduce", seed, "--quick", "--out", str(tmp_path))
    assert r2.returncode == 0
    assert "trained 0," in r2.stderr and not re.search(r"trained [1-9]", r2.stderr)
