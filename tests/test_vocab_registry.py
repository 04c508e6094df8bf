"""Cross-registry checks: unknown names, parameter validation, generated reference.

Every parameter table (the vocabulary, layers, datasets) declares its value
constraints as ``Param(check=...)`` and is validated by ``check_params``; the
tests below run over all of them, so a new entry is covered the day it is added.
"""

import re
from pathlib import Path

import pytest

from sweeplab.data.registry import DATASETS
from sweeplab.models.layers import LAYERS
from sweeplab.vocab import REGISTRIES, InvalidParamError, UnknownNameError, check_params
from sweeplab.models import docgen
from sweeplab.vocab.params import _plain
from sweeplab.vocab.registry import Entry, Param, Registry

ALL = {**REGISTRIES, "layer": LAYERS, "dataset": DATASETS}
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _required(entry) -> dict:
    """Values for the parameters without a usable default (a dense layer's units)."""
    return {p.name: 4 for p in entry.params if p.default is None and p.check is not None
            and not getattr(p.check, "none_ok", False)}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_unknown_name_lists_accepted(kind):
    reg = ALL[kind]
    with pytest.raises(UnknownNameError) as e:
        check_params(reg, "no_such_thing", {})
    assert e.value.accepted == reg.names()
    assert "accepted: " + ", ".join(reg.names()) in str(e.value)


@pytest.mark.parametrize("kind", sorted(ALL))
def test_defaults_pass_their_own_checks(kind):
    for entry in ALL[kind]:
        given = {**entry.defaults(), **_required(entry)}
        out = check_params(ALL[kind], entry.name, given)
        assert out == check_params(ALL[kind], entry.name, _required(entry))  # defaults = not given
        for p in entry.params:
            if p.check is not None and p.name not in _required(entry):
                assert p.check.convert(p.default) == out[p.name], (entry.name, p.name)


def _invalid_cases():
    for kind, reg in sorted(ALL.items()):
        for entry in reg:
            for p in entry.params:
                # without a check, the default's type rule still rejects a value of another type
                bad = p.check.invalid() if p.check is not None else [3] if isinstance(p.default, str) else ["x"]
                for value in bad:
                    yield pytest.param(kind, entry.name, p.name, value,
                                       id=f"{kind}-{entry.name}-{p.name}-{value!r}")


@pytest.mark.parametrize("kind, name, pname, value", list(_invalid_cases()))
def test_every_constrained_param_rejects_an_invalid_value_in_one_line(kind, name, pname, value):
    """Generated (the scikit-learn habit): for every Param of every table, each
    value its constraint lists as invalid (or one of the wrong type) is refused with one line naming the
    parameter, its owner, what is accepted and the value received."""
    reg = ALL[kind]
    entry = reg.get(name)
    with pytest.raises(InvalidParamError) as e:
        check_params(reg, name, {**_required(entry), pname: value})
    msg = str(e.value)
    assert "\n" not in msg
    assert e.value.param == pname and e.value.entry == entry.name
    m = re.fullmatch(rf"The '{pname}' parameter of {re.escape(entry.name)} must be (.+)\. "
                     rf"Got {re.escape(repr(_plain(value)))} instead\.", msg)
    assert m, msg
    assert m.group(1)  # what is accepted


def test_every_registry_declares_constraints_on_params_only():
    for kind, reg in ALL.items():
        for entry in reg:
            assert "checks" not in entry.meta and "choices" not in entry.meta, (kind, entry.name)
    with pytest.raises(ValueError, match="declare the constraint as Param"):
        Registry("x").add(Entry("a", None, params=(Param("p", 1.0),), meta={"checks": {}}))


def test_one_type_rule_for_every_table():
    """A bool is never a number, an integral float is an integer, strings are case-insensitive."""
    assert check_params(LAYERS, "dense", {"units": 8.0})["units"] == 8
    assert check_params(DATASETS, "synthetic2d", {"n_samples": 100.0})["n_samples"] == 100
    assert check_params(LAYERS, "conv2d", {"filters": 2, "padding": "SAME"})["padding"] == "same"
    with pytest.raises(InvalidParamError, match="must be an integer. Got True instead"):
        check_params(LAYERS, "dense", {"units": True})
    with pytest.raises(InvalidParamError, match="must be an integer. Got True instead"):
        check_params(DATASETS, "clocks", {"seed": True})
    with pytest.raises(InvalidParamError, match="must be a boolean"):
        check_params(LAYERS, "dense", {"units": 2, "use_bias": "no"})
    with pytest.raises(InvalidParamError, match="must be a finite number. Got True instead"):
        check_params(REGISTRIES["optimizer"], "sgd", {"momentum": True})
    # an integer too large for a float is refused as one, not an OverflowError (found by the spec fuzzer:
    # a 2,000-digit dropout rate in a sweep)
    with pytest.raises(InvalidParamError, match="must be a finite number"):
        check_params(LAYERS, "dropout", {"rate": 10 ** 400})
    with pytest.raises(InvalidParamError, match="must be an integer"):
        check_params(LAYERS, "dense", {"units": float("inf")})


def test_a_huge_rejected_value_is_shown_bounded():
    with pytest.raises(InvalidParamError) as e:
        LAYERS.validate({"type": "dense", "units": -10 ** 5000})
    assert re.fullmatch(r"The 'units' parameter of dense must be >= 1\. Got <an integer of about 500\d digits> instead\.",
                        str(e.value)), str(e.value)


def test_a_required_layer_parameter_is_named_when_missing():
    with pytest.raises(InvalidParamError) as e:
        LAYERS.validate({"type": "dense"})
    assert str(e.value) == "The 'units' parameter of dense must be an integer. Got None instead."


def test_layer_names_and_pairs_are_normalised():
    out = LAYERS.validate({"type": "conv2d", "filters": 2, "kernel_size": [3, 5], "activation": "ReLU",
                           "kernel_initializer": "he_normal"})
    assert (out["kernel_size"], out["strides"], out["activation"]) == ((3, 5), (1, 1), "relu")
    assert LAYERS.validate({"type": "max_pooling2d", "pool_size": 3})["strides"] == (3, 3)
    with pytest.raises(InvalidParamError, match=r"must be a known activation \(did you mean 'relu'\?\)"):
        LAYERS.validate({"type": "dense", "units": 2, "activation": "rleu"})


def test_dataset_cross_check_names_the_limit():
    with pytest.raises(InvalidParamError, match=r"^data.params: Invalid parameters of clocks: n_images x size"):
        from sweeplab.data.loaders import resolve_params

        resolve_params("clocks", {"n_images": 1_000_000, "size": 1024})


def test_check_params_normalises_and_fills_defaults():
    out = check_params(REGISTRIES["optimizer"], "SGD", {"learning_rate": 1, "nesterov": True})
    assert out == {"learning_rate": 1.0, "momentum": 0.0, "nesterov": True}
    assert isinstance(out["learning_rate"], float)


@pytest.mark.parametrize("params,message", [
    ({"learning_rate": -1}, "The 'learning_rate' parameter of adam must be > 0. Got -1 instead."),
    ({"learning_rate": 0}, "The 'learning_rate' parameter of adam must be > 0. Got 0 instead."),
    ({"beta_1": 1.0}, "The 'beta_1' parameter of adam must be in the range [0, 1). Got 1 instead."),
    ({"epsilon": True}, "The 'epsilon' parameter of adam must be a finite number. Got True instead."),
    ({"learning_rate": float("nan")}, "The 'learning_rate' parameter of adam must be a finite number. Got nan instead."),
    ({"amsgrad": "no"}, "The 'amsgrad' parameter of adam must be a boolean (true or false). Got 'no' instead."),
])
def test_bad_values_give_one_line(params, message):
    with pytest.raises(InvalidParamError) as e:
        check_params(REGISTRIES["optimizer"], "adam", params)
    assert str(e.value) == message


def test_unknown_parameter_names_entry_param_and_accepted():
    with pytest.raises(InvalidParamError) as e:
        check_params(REGISTRIES["optimizer"], "rmsprop", {"beta": 0.9})
    assert str(e.value) == ("unknown parameter 'beta' for optimizer 'rmsprop'; accepted: "
                            "learning_rate, rho, momentum, epsilon, centered")
    assert (e.value.entry, e.value.param) == ("rmsprop", "beta")
    with pytest.raises(InvalidParamError, match="accepted: \\(none\\)"):
        check_params(REGISTRIES["activation"], "relu", {"alpha": 1.0})


def test_docgen_lists_every_name(tmp_path):
    out = tmp_path / "vocab.md"
    assert docgen.main([str(out)]) == 0
    text = out.read_text()
    for kind, reg in REGISTRIES.items():
        for entry in reg:
            assert f"| `{entry.name}` |" in text, (kind, entry.name)
    assert "`learning_rate=0.001` (per trial) (> 0)" in text
    assert "`units=None` (>= 1)" in text and "`rate=0.5` (per trial) (in the range [0, 1))" in text


def test_vocabulary_reference_is_current():
    path = DOCS / "reference" / "vocabulary.md"
    assert path.read_text(encoding="utf-8") == docgen.render(), \
        "docs/reference/vocabulary.md is stale: run python -m sweeplab.models.docgen"
