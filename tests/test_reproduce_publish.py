"""docs/reproductions/seedNNN.md from a finished run tree (``python -m sweeplab.reproduce.publish``).

Built on small real trees (the TINY profile of ``sweeplab reproduce``): the page carries the
command, the machine, each study's wall time from its store, "which conclusions hold", the
figures (copied beside the page) and one table row per published number; nothing is trained
and nothing but ``--to`` is written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sweeplab.reproduce import load_published
from sweeplab.reproduce.command import reproduce
from sweeplab.reproduce.publish import conclusions, publish
from sweeplab.reproduce.quick import TINY
from sweeplab.reproduce.verdict import Comparison, verdict

needs_mnist = pytest.mark.skipif(
    not (Path(os.environ.get("SWEEPLAB_DATA", "")) / "mnist").is_dir()
    and not (Path.home() / ".cache" / "sweeplab" / "mnist").is_dir(),
    reason="no local MNIST (set SWEEPLAB_DATA)")


@pytest.fixture(scope="module")
def tree002(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    reproduce("002", out, profile=TINY, only=["seed002-initializers"])
    return out / "seed002"


def _snapshot(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


def test_page_from_a_tree(tree002, tmp_path):
    before = _snapshot(tree002)
    page = publish(tree002, tmp_path / "docs")
    assert page == tmp_path / "docs" / "seed002-tiny.md"  # a smoke-test tree never overwrites seed002.md
    assert _snapshot(tree002) == before, "publishing reads the tree, it does not write it"
    md = page.read_text(encoding="utf-8")
    assert md.startswith("> **TINY — not a reproduction.**")
    assert f"sweeplab reproduce 002 --quick --out {tree002.parent}" in md
    assert re.search(r"Machine \(recorded by the run\): .*cpu_cores \d+", md)
    # wall time of each study, from its store
    assert re.search(r"\| seed002-initializers \| 12 \| \d+ s \| \d+ s \(includes pauses", md)
    assert "| seed002-grid-search | — | — | — | not run: not in this run tree |" in md
    # which conclusions hold: counts per study and the report's ranking against our seeds
    assert re.search(r"\| seed002-initializers \| \d+ \| \d+ \| 0 \|", md)
    ranking = next(x for x in md.splitlines() if x.startswith("| Table III | seed002-initializers | val_accuracy (kernel_initializer) |"))
    assert re.search(r"\| (holds|does not hold)", ranking)
    # the figure is copied beside the page and linked relatively
    assert "![seed002-initializers](images/seed002-initializers-tiny.png)" in md
    png = tmp_path / "docs" / "images" / "seed002-initializers-tiny.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one side-by-side row per published number
    ids = {r.id for r in load_published("002").rows}
    found = {line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| T") or line.startswith("| fig")}
    assert ids <= found


def test_cli_bad_tree_is_one_line_exit_2(tmp_path):
    (tmp_path / "notatree").mkdir()
    r = subprocess.run([sys.executable, "-m", "sweeplab.reproduce.publish", str(tmp_path / "notatree"),
                        "--to", str(tmp_path / "docs")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "docs").exists()


def _comp(rid, setting, published, ours, ref="Table X", metric="val_accuracy", baseline=None):
    from sweeplab.reproduce.published import Row

    row = Row(id=rid, ref=ref, study="s", setting={"a": setting}, metric=metric, split="val", at="final",
              printed=str(published), unit="fraction", relation="=", quote="q", comparable=True, baseline=baseline)
    v = verdict(published, ours)
    return Comparison(row, f"a = {setting}", str(published), "x", v, tuple(ours))


def test_conclusions_mark_a_ranking_inside_seed_noise():
    # the report: relu 0.975 > tanh 0.970 (gap 0.005); our seeds scatter by ~0.01: one run cannot order them
    noisy = [_comp("r1", "relu", 0.975, [0.96, 0.98, 0.97]), _comp("r2", "tanh", 0.970, [0.95, 0.97, 0.96])]
    line = next(x for x in conclusions(noisy) if x.startswith("| Table X"))
    assert "| val_accuracy (a) | relu > tanh | relu > tanh | holds; within seed noise: relu vs tanh" in line
    clear = [_comp("r1", "relu", 0.975, [0.974, 0.975, 0.976]), _comp("r2", "tanh", 0.90, [0.899, 0.90, 0.901])]
    line = next(x for x in conclusions(clear) if x.startswith("| Table X"))
    assert line.endswith("| holds; every gap is larger than seed noise |")
    flipped = [_comp("r1", "relu", 0.975, [0.899, 0.90, 0.901]), _comp("r2", "tanh", 0.90, [0.974, 0.975, 0.976])]
    line = next(x for x in conclusions(flipped) if x.startswith("| Table X"))
    assert "| does not hold; the report's best (relu) is not ours (tanh)" in line
    diff = [_comp("d1", "relu", 0.005, [0.01, -0.01, 0.0], baseline={"a": "tanh"})]
    assert any("within seed noise (our interval includes 0)" in x for x in conclusions(diff))


@needs_mnist
def test_seed001_exercise_3_is_in_the_reproduction_and_the_page(tmp_path):
    md_path = reproduce("001", tmp_path / "out", profile=TINY, only=["seed001-lecun-tanh"])
    md = md_path.read_text(encoding="utf-8")
    assert "## Exercise 3: an own handwritten digit" in md
    assert "![photo-like digit](own-digit.jpg)" in md and re.search(r"Prediction \(top 3\): \*\*\d \(", md)
    assert "sweeplab predict" in md
    page = publish(md_path.parent, tmp_path / "docs").read_text(encoding="utf-8")
    assert "![photo-like digit](images/seed001-tiny-own-digit.jpg)" in page
    assert (tmp_path / "docs" / "images" / "seed001-tiny-own-digit.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (tmp_path / "docs" / "images" / "seed001-tiny-own-digit-seen.png").is_file()
