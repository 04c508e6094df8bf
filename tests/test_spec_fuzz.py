"""Property-based fuzzing of the study parser: ``check`` accepts a file or gives one line.

Random TOML/YAML documents, random structural mutations of the built-in studies
(delete a key, change a type, swap values, insert huge numbers, long strings,
NaN, booleans, nested lists) and random edits of their text go through what
``sweeplab check`` does in-process (load + expand, then plan when the data is
bundled). Each case is either accepted or a ``StudyError``/``ValueError`` whose
message is one line of bounded length; any other exception is a bug. Hypothesis's
deadline bounds the time of each case.

The default run is small enough for CI; ``SWEEPLAB_FUZZ_EXAMPLES=2000`` (or the
``slow``-marked variants) runs more.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tomllib
from datetime import timedelta
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeplab.engine.run import plan
from sweeplab.spec.errors import StudyError
from sweeplab.spec.expand import builtin_studies, study_from_text

BUILTINS = {name: path.read_text(encoding="utf-8") for name, path in builtin_studies().items()}
PARSED = {name: tomllib.loads(text) for name, text in BUILTINS.items()}
BUNDLED = {"digits", "synthetic2d", "synthetic"}  # datasets cheap enough to plan in a fuzz case
MAX_MESSAGE = 1100
FAST = int(os.environ.get("SWEEPLAB_FUZZ_EXAMPLES", "80"))
TALLY = os.environ.get("SWEEPLAB_FUZZ_TALLY")
FUZZ = settings(max_examples=FAST, deadline=timedelta(seconds=10), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(FUZZ, max_examples=max(FAST, 1500), derandomize=False)

# --- what a study file may contain --------------------------------------------------------
FIELD_NAMES = sorted({"study", "data", "model", "train", "sweep", "report", "name", "description", "seed",
                      "repeats", "max_trials", "dataset", "params", "task", "type", "positive", "subsample",
                      "augment", "fraction", "sigma", "validation_split", "validation_size", "test_size",
                      "normalize", "mlp", "layers", "hidden", "units", "depth", "activation", "dropout",
                      "heads", "optimizer", "learning_rate", "loss", "metrics", "batch_size", "epochs",
                      "cross_validation", "early_stopping", "monitor", "patience", "zip", "filters",
                      "kernel_size", "rate", "train.epochs", "model.mlp.hidden", "train.learning_rate",
                      "data.subsample", "model.layers.0.units", "n_samples", "function"})
HUGE = [0, 1, -1, 2**31, 2**32, 2**32 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**12, 10**30, -10**30,
        10**4000, 1e308, -1e308, 5e-324, 1e-300, math.inf, -math.inf, math.nan, True, False, "", "full",
        "x" * 5000, "é\u2028\x00", "[/x]", "\n\n", "relu", "adam", "digits", "mnist", "accuracy"]

scalars = st.one_of(
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.booleans(),
    st.text(max_size=12), st.sampled_from(HUGE), st.sampled_from(FIELD_NAMES),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=8)), inner, max_size=5),
), max_leaves=25)


# --- serialisers ----------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if v.bit_length() < 4000 else "1" + "0" * 1300
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()
                                if x is not None) + " }"
    return '"?"'


def to_toml(doc: dict) -> str:
    """TOML for a document: scalars first, then one ``[table]`` per dict, values inline."""
    head = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in doc.items()
            if not isinstance(v, dict) and v is not None]
    tables = []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append(f"[{json.dumps(str(k))}]")
            tables += [f"{json.dumps(str(kk))} = {_toml_value(vv)}" for kk, vv in v.items() if vv is not None]
    return "\n".join(head + tables) + "\n"


def to_yaml(doc: dict) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


# --- the property ---------------------------------------------------------------------------
def check(text: str, source: str) -> str:
    """What ``sweeplab check`` does, in-process: "ok" or the one-line error; other exceptions propagate."""
    return _tally(_check(text, source))


def _check(text: str, source: str) -> str:
    try:
        study = study_from_text(text, source)
    except StudyError as e:
        return _one_line(str(e))
    if study.spec.data.dataset not in BUNDLED:
        return "ok"
    try:
        plan(study)
    except ValueError as e:
        return _one_line(f"{source}: {e}")
    return "ok"


def _one_line(msg: str) -> str:
    assert "\n" not in msg and "\r" not in msg, msg[:300]
    assert 0 < len(msg) <= MAX_MESSAGE, (len(msg), msg[:300])
    return msg


def _tally(outcome: str) -> str:
    if TALLY:  # for the closing note's figures: one line per case
        with open(TALLY, "a", encoding="utf-8") as f:
            f.write(("ok" if outcome == "ok" else "error") + "\n")
    return outcome


def _limit_trials(doc: Any) -> Any:
    # A valid study of 100,000 trials takes tens of seconds to expand and plan (a legitimate cost,
    # not a robustness bug): cap what the fuzz asks for, unless the case sets the cap itself.
    if isinstance(doc, dict) and isinstance(doc.get("study"), dict):
        doc["study"].setdefault("max_trials", 2000)
    return doc


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import JAX and load the bundled data once, so the first case's deadline measures the case."""
    assert _check(BUILTINS["quickstart"], "quickstart.toml") == "ok"


# --- mutations of the built-in studies ------------------------------------------------------
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _shared(levels: int, width: int = 10) -> list:
    """A list that shares its items: YAML writes it with anchors and aliases ("billion laughs")."""
    node: list = ["lol"] * width
    for _ in range(levels):
        node = [node] * width
    return node


@st.composite
def mutated_builtin(draw) -> tuple[dict, bool]:
    """(a built-in study with 1-3 random mutations, whether to write it as YAML)."""
    as_yaml = draw(st.booleans())
    name = draw(st.sampled_from(sorted(PARSED)))
    doc = copy.deepcopy(PARSED[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "swap", "insert", "wrap", "huge", "huge"]
                                  + (["bomb"] if as_yaml else [])))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "huge":
            parent[key] = draw(st.sampled_from(HUGE))
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            try:
                parent[key], value = copy.deepcopy(_get(doc, other)), parent[key]
            except (KeyError, IndexError, TypeError):
                continue
        elif op == "bomb":
            parent[key] = _shared(draw(st.integers(2, 8)))
            break  # walking the document again would expand the bomb
        elif op == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(FIELD_NAMES))] = draw(values)
        else:
            parent.insert(key, draw(values))
    return doc, as_yaml


@FUZZ
@given(case=mutated_builtin())
def test_mutated_builtin_study_is_accepted_or_one_line(case):
    doc, as_yaml = case
    doc = _limit_trials(doc)
    check(to_yaml(doc), "fuzz.yaml") if as_yaml else check(to_toml(doc), "fuzz.toml")


@FUZZ
@given(doc=st.dictionaries(st.one_of(st.sampled_from(["study", "data", "model", "train", "sweep", "report"]),
                                     st.text(max_size=6)), values, max_size=6),
       as_yaml=st.booleans())
def test_random_document_is_accepted_or_one_line(doc, as_yaml):
    doc = _limit_trials(doc)
    check(to_yaml(doc), "fuzz.yaml") if as_yaml else check(to_toml(doc), "fuzz.toml")


@FUZZ
@given(name=st.sampled_from(sorted(BUILTINS)), edits=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 8), st.text(max_size=6)), min_size=1, max_size=4),
    as_yaml=st.booleans())
def test_text_edits_are_accepted_or_one_line(name, edits, as_yaml):
    text = to_yaml(_limit_trials(copy.deepcopy(PARSED[name]))) if as_yaml else \
        BUILTINS[name].replace("[study]\n", "[study]\nmax_trials = 2000\n", 1)
    for where, n_delete, insert in edits:
        i = int(where * len(text))
        text = text[:i] + insert + text[i + n_delete:]
    check(text, "fuzz.yaml" if as_yaml else "fuzz.toml")


@pytest.mark.slow
@SLOW
@given(case=mutated_builtin())
def test_mutated_builtin_study_many(case):
    test_mutated_builtin_study_is_accepted_or_one_line.hypothesis.inner_test(case)


@pytest.mark.slow
@SLOW
@given(doc=st.dictionaries(st.text(max_size=6), values, max_size=6), as_yaml=st.booleans())
def test_random_document_many(doc, as_yaml):
    test_random_document_is_accepted_or_one_line.hypothesis.inner_test(doc, as_yaml)


def test_serialisers_round_trip_a_builtin_study():
    doc = PARSED["quickstart"]
    assert tomllib.loads(to_toml(doc)) == doc
    assert yaml.safe_load(to_yaml(doc)) == doc
    assert check(to_toml(doc), "q.toml") == "ok"
