"""The seed reports' published numbers (src/sweeplab/reproduce/published/seedNNN.toml).

Checks every row against the built-in studies (study, sweep axes, axis values, one
configuration, recorded metric, epoch) and, where the seed reports are on disk
(``SWEEPLAB_SEEDS`` or /work/shared/seeds), every printed number and quote against the
report text. Also: the loader refuses malformed files with one line.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path

import pytest

import sweeplab
from sweeplab import values as V
from sweeplab.reproduce.published import (
    SEEDS, PublishedError, load_published, parse_published, published_files,
)
from sweeplab.spec.source import builtin_studies

# rows, comparable rows per seed: a row lost or added by accident shows up here.
EXPECTED_COUNTS = {"000": (38, 36), "001": (116, 98), "002": (29, 27), "003": (46, 36), "004": (26, 14)}


def _all_rows():
    return [(p.seed, row) for p in map(load_published, SEEDS) for row in p.rows]


ROWS = _all_rows()


@functools.lru_cache(maxsize=None)
def _study(name):
    return sweeplab.load_study(name)


def _seeds_dir() -> Path | None:
    for d in (os.environ.get("SWEEPLAB_SEEDS"), "/work/shared/seeds", Path(__file__).parents[2] / "shared" / "seeds"):
        if d and Path(d).is_dir():
            return Path(d)
    return None


def _normalise(text: str) -> str:
    """Whitespace collapsed and Markdown bold (seed 004's **sgd**) dropped."""
    return " ".join(text.replace("**", "").split())


def _recorded_metrics(study) -> set[str]:
    """The trials-table metric columns a run of ``study`` has (split_metric)."""
    cfg = study.trials[0].config
    data, train, model = cfg["data"], cfg["train"], cfg["model"]
    names = {"loss"} | set(train.get("metrics") or [])
    for head in model.get("heads") or []:
        names |= {f"{head['name']}_loss"} | {f"{head['name']}_{m}" for m in head.get("metrics") or []}
    splits = {"train", "test"}
    if data.get("validation_split") or data.get("validation_size") or data.get("validation_data") \
            or train.get("cross_validation"):
        splits.add("val")
    return {f"{s}_{n}" for s in splits for n in names} | {"n_params", "seconds_per_epoch"}


def test_one_file_per_seed_and_counts():
    assert [p.stem for p in published_files()] == [f"seed{s}" for s in SEEDS]
    got = {p.seed: (len(p.rows), len(p.comparable())) for p in map(load_published, SEEDS)}
    assert got == EXPECTED_COUNTS


def test_files_are_not_under_studies():
    """builtin_studies() rglobs studies/*.toml: a published file there would be taken for a study."""
    assert all("studies" not in p.parts for p in published_files())
    assert not any(name.startswith("seed") and name.endswith(("000", "001", "002", "003", "004"))
                   for name in builtin_studies())


@pytest.mark.parametrize("seed,row", ROWS, ids=[f"{s}:{r.id}" for s, r in ROWS])
def test_row_maps_onto_its_study(seed, row):
    if row.study is None:
        assert not row.comparable
        return
    assert row.study in builtin_studies(), f"{row.study} is not a built-in study"
    assert row.study.startswith(f"seed{seed}-")
    study = _study(row.study)
    for setting in [row.setting] + ([row.baseline] if row.baseline is not None else []):
        for axis, value in setting.items():
            assert axis in study.axes, f"{axis} is not an axis of {row.study} ({study.axes})"
            values = [t.overrides[axis] for t in study.trials]
            assert any(V.same(v, value) for v in values), f"{axis} = {value!r} is not a value of {row.study}"
        configs = {t.config_id for t in study.trials
                   if all(V.same(t.overrides[a], v) for a, v in setting.items())}
        if row.comparable:
            assert len(configs) == 1, f"{setting} picks {len(configs)} configurations of {row.study}"
    if row.comparable:
        assert row.metric in _recorded_metrics(study), f"{row.study} does not record {row.metric}"
        if isinstance(row.at, int):
            assert row.at <= study.trials[0].config["train"]["epochs"]
        if row.unit == "minutes":  # the clocks studies regress minute / 60
            assert study.trials[0].config["data"]["task"]["target_scale"] == pytest.approx(1 / 60)
    if row.study is not None:
        assert row.stated and row.unstated  # the protocol is always said


@pytest.mark.parametrize("seed", SEEDS)
def test_printed_numbers_and_quotes_are_in_the_report(seed):
    folder = _seeds_dir()
    if folder is None:
        pytest.skip("the seed reports are not on this machine (set SWEEPLAB_SEEDS)")
    [path] = folder.glob(f"{seed}_*.txt")
    published = load_published(seed)
    assert published.source == path.name
    text = _normalise(path.read_text(encoding="utf-8"))
    for row in published.rows:
        quote = _normalise(row.quote)
        assert quote in text, f"{row.id}: quote not in the report: {row.quote!r}"
        if row.printed is not None:
            numbers = re.findall(r"[0-9][0-9,]*(?:\.[0-9]+)?", quote)
            assert row.printed in {n.replace(",", "") for n in numbers}, f"{row.id}: {row.printed} not in its quote"


def test_values_in_metric_units():
    rows = {r.id: r for r in load_published("000").rows}
    assert rows["T1-sigmoid-acc"].value == pytest.approx(0.9971)
    assert rows["T1-sigmoid-acc"].resolution == pytest.approx(0.00005)
    assert rows["T2-16-loss"].value == pytest.approx(0.0324)
    assert rows["best-test-acc"].value == pytest.approx(0.9823)
    clocks = {r.id: r for r in load_published("004").rows}["s3.2-minute-mae-never-under-4"]
    assert clocks.value == pytest.approx(4 / 60) and clocks.relation == ">="
    params = {r.id: r for r in load_published("001").rows}["ex1b-L5-params"]
    assert params.value == 28618 and params.resolution == 0


# ---------------------------------------------------------------- the loader refuses bad files

def _raw():
    import tomllib

    return tomllib.loads((published_files()[0]).read_text(encoding="utf-8"))


def _bad(mutate):
    raw = copy.deepcopy(_raw())
    mutate(raw)
    return raw


BAD = {
    "unknown row key": (lambda r: r["row"][0].update(valu="1"), ["row 1 (fig2m-full-batch-val-acc)", "unknown key", "valu", "accepted keys"]),
    "bad unit": (lambda r: r["row"][0].update(unit="percents"), ["field 'unit'", "percents", "percent, fraction"]),
    "bad relation": (lambda r: r["row"][0].update(relation="=="), ["field 'relation'", "'=='", "=, ~, <"]),
    "printed not a number": (lambda r: r["row"][0].update(printed="95%"), ["field 'printed'", "95%", "digits"]),
    "printed a float": (lambda r: r["row"][0].update(printed=95.0), ["field 'printed'", "95.0", "string"]),
    "bad at": (lambda r: r["row"][0].update(at=0), ["field 'at'", "0", "epoch number"]),
    "bad metric": (lambda r: r["row"][0].update(metric="accuracy"), ["field 'metric'", "accuracy", "test_accuracy"]),
    "missing printed": (lambda r: r["row"][0].pop("printed"), ["field 'printed'", "(missing)", "comparable = true"]),
    "no reason": (lambda r: r["row"][1].pop("reason"), ["row 2 (fig2-curves)", "field 'reason'", "(missing)"]),
    "duplicate id": (lambda r: r["row"][1].update(id=r["row"][0]["id"]), ["row 2", "field 'id'", "earlier row"]),
    "setting not a table": (lambda r: r["row"][0].update(setting=["train.batch_size"]), ["field 'setting'", "a table"]),
    "setting path": (lambda r: r["row"][0].update(setting={"batch_size": 32}), ["field 'setting'", "batch_size", "data., model. or train."]),
    "comparable not bool": (lambda r: r["row"][0].update(comparable="yes"), ["field 'comparable'", "yes", "true or false"]),
    "bad seed": (lambda r: r["report"].update(seed="7"), ["report.seed", "'7'", "000, 001"]),
    "missing experiment": (lambda r: r["experiments"].pop("seed000-best"), ["[experiments]", "seed000-best"]),
    "no rows": (lambda r: r.update(row=[]), ["field 'row'", "non-empty array"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_is_one_line(name):
    mutate, parts = BAD[name]
    with pytest.raises(PublishedError) as info:
        parse_published(_bad(mutate), "seed000.toml")
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in msg and msg.startswith("seed000.toml: ")
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_unknown_seed_and_bad_toml(tmp_path):
    with pytest.raises(PublishedError, match="no published numbers for this seed; accepted: 000, 001, 002, 003, 004"):
        load_published("009")
    bad = tmp_path / "x.toml"
    bad.write_text("[report\n")
    with pytest.raises(PublishedError, match=r"^x\.toml: not valid TOML"):
        load_published(bad)
