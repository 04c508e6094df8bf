"""Cross-registry checks: unknown names, parameter validation, generated reference."""

import pytest

from sweeplab.vocab import REGISTRIES, InvalidParamError, UnknownNameError, check_params
from sweeplab.vocab import docgen


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_name_lists_accepted(kind):
    reg = REGISTRIES[kind]
    with pytest.raises(UnknownNameError) as e:
        check_params(reg, "no_such_thing", {})
    assert e.value.accepted == reg.names()
    assert "accepted: " + ", ".join(reg.names()) in str(e.value)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_defaults_pass_their_own_checks(kind):
    for entry in REGISTRIES[kind]:
        assert check_params(REGISTRIES[kind], entry.name, entry.defaults()) == entry.defaults()
        assert set(entry.meta.get("checks", {})) <= set(entry.param_names())


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
