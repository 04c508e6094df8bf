"""Per-trial versus structural: one generated table over every per-trial parameter of every registry.

The rows are enumerated from the registries (optax's "table of everything under
test" habit), so a parameter newly marked ``per_trial=True`` is tested the day
it is added: swept over two values it must give ONE compiled group, and the
group's results must equal each trial trained alone (the value really reaches
its trial, not trial 0's value for everyone).
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from sweeplab import vocab
from sweeplab.engine.hparams import PER_TRIAL, split_config
from sweeplab.engine.plan import plan_groups
from sweeplab.engine.trainer import train_group
from sweeplab.models.layers import LAYERS, LayerType
from sweeplab.models.model import _node
from sweeplab.spec.expand import study_from_text
from sweeplab.vocab.optimizers import OPTIMIZERS
from sweeplab.vocab.params import check_params
from sweeplab.vocab.registry import Entry, Param

IMAGE = (8, 8, 1)  # digits
BASE = """
[study]
name = "hp"
seed = 0

[data]
dataset = "digits"
subsample = 120

[model]
{model}

[train]
optimizer = "{optimizer}"
batch_size = 64
epochs = 1

[sweep]
"{path}" = {values}
"""


def _optimizer_value(entry: Entry, p: Param):
    """A second valid value of an optimizer hyperparameter, far enough from the default to matter."""
    d = p.default
    for v in (d * 3, d / 2, 0.5, 0.1, -0.25):
        if v != d:
            try:
                check_params(OPTIMIZERS, entry.name, {p.name: v})
                return v
            except ValueError:
                pass
    raise AssertionError(f"no second value found for {entry.name}.{p.name}")


def _layer_cfg(entry: Entry, **values) -> dict:
    # Parameters without a default (units, filters): a small size.
    return {"type": entry.name, **{p.name: 4 for p in entry.params if p.default is None}, **values}


def _layer_value(entry: Entry, p: Param):
    """A second valid value of a layer parameter: a number, or a name from any registry."""
    if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
        candidates = [p.default / 2, 0.5, 1]
    else:
        candidates = [n for reg in vocab.REGISTRIES.values() for n in reg.names()]
    for v in candidates:
        if v != p.default:
            try:
                LAYERS.validate(_layer_cfg(entry, **{p.name: v}))
                return v
            except ValueError:
                pass
    raise AssertionError(f"no second value found for layer {entry.name}.{p.name}")


def _layers_around(entry: Entry) -> list[dict]:
    """The layer in a small network, after a layer with signed outputs (so relu is not the identity):
    on the image when it takes one, else on flat features. A trailing flatten keeps a dense layer
    from being the output layer."""
    try:
        _node(LAYERS.validate(_layer_cfg(entry)), IMAGE, "probe")
        return [{"type": "conv2d", "filters": 2, "kernel_size": 1}, _layer_cfg(entry), {"type": "flatten"}]
    except ValueError:
        return [{"type": "flatten"}, {"type": "dense", "units": 4}, _layer_cfg(entry), {"type": "flatten"}]


def _rows():
    rows = []
    for e in OPTIMIZERS:
        for p in e.params:
            if p.per_trial:
                path = "train.learning_rate" if p.name == "learning_rate" else f"train.optimizer_params.{p.name}"
                rows.append(pytest.param("mlp = { hidden = [4] }", e.name, path, [p.default, _optimizer_value(e, p)],
                                         id=f"optimizer-{e.name}-{p.name}"))
    for e in LAYERS:
        for p in e.params:
            if p.per_trial:
                layers = _layers_around(e)
                i = next(j for j, c in enumerate(layers) if c["type"] == e.name)
                model = "layers = " + json.dumps(layers).replace('": ', '" = ').replace('{"', '{ "')
                model = model.replace('"type"', "type")
                for q in {k for c in layers for k in c}:
                    model = model.replace(f'"{q}" =', f"{q} =")
                rows.append(pytest.param(model, "sgd", f"model.layers.{i}.{p.name}", [p.default, _layer_value(e, p)],
                                         id=f"layer-{e.name}-{p.name}"))
    return rows


ROWS = _rows()


def _study(model: str, optimizer: str, path: str, values: list):
    return study_from_text(BASE.format(model=model, optimizer=optimizer, path=path, values=json.dumps(values)))


@pytest.mark.parametrize("model,optimizer,path,values", ROWS)
def test_every_per_trial_parameter_shares_one_group_and_equals_trials_alone(model, optimizer, path, values):
    study = _study(model, optimizer, path, values)
    assert len(study.trials) == 2
    (group,) = plan_groups(study.trials)  # (a) one compiled group for both values
    together = train_group(list(group.trials), study_seed=0)
    for t, both in zip(group.trials, together):  # (b) each trial as if it trained alone
        # "Alone": beside a copy of itself, so no other value is in its group (and the
        # compiled program of the same size is reused: the table stays fast).
        alone, _ = train_group([t, t], study_seed=0)
        assert both.history.keys() == alone.history.keys()
        for key, v in alone.history.items():
            np.testing.assert_allclose(both.history[key], v, rtol=1e-5, atol=1e-6, err_msg=f"{path} {key}")
        for name, arr in alone.params.items():
            np.testing.assert_allclose(both.params[name], arr, rtol=1e-5, atol=1e-6, err_msg=f"{path} {name}")
    # and the swept value really reaches its trial: the two trials differ
    a, b = together
    assert any(not np.array_equal(a.params[k], b.params[k]) for k in a.params), f"{path}: {values} train alike"


def test_the_table_covers_every_per_trial_parameter():
    """Every registry with per-trial parameters has rows (a registry with no sweep path must have none)."""
    covered = {r.id for r in ROWS}
    for e in OPTIMIZERS:
        assert {f"optimizer-{e.name}-{p.name}" for p in e.params if p.per_trial} <= covered
    for reg in vocab.REGISTRIES.values():
        if reg is not OPTIMIZERS:  # activations, initializers, losses, metrics: no per-trial values
            assert not [p for e in reg for p in e.params if p.per_trial], reg.kind
    assert {f"layer-{e.name}-{p.name}" for e in LAYERS for p in e.params if p.per_trial} <= covered


@pytest.mark.parametrize("path,values", [
    ("model.layers.1.units", [4, 5]),  # a layer's size
    ("model.layers.2.activation", ["softmax", "sigmoid"]),  # the output layer's activation picks the loss
    ("train.optimizer_params.nesterov", [False, True]),  # a non-per-trial optimizer parameter
    ("train.batch_size", [32, 64]),
])
def test_a_structural_parameter_swept_gives_two_groups(path, values):
    model = ('layers = [{ type = "flatten" }, { type = "dense", units = 4 }, '
             '{ type = "dense", units = 10, activation = "softmax" }]')
    study = _study(model, "sgd", path, values)
    assert len(plan_groups(study.trials)) == 2


def test_split_config_reads_the_registry_flags():
    study = _study('mlp = { hidden = [4], dropout = 0.2, activation = "tanh" }', "adam", "train.learning_rate",
                   [0.01, 0.02])
    structure, per = split_config(study.trials[0].config)
    assert per["opt"] == {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    assert structure["train"]["learning_rate"] == PER_TRIAL
    dense, dropout = structure["model"]["mlp"]["layers"]
    assert dense["activation"] == dense["kernel_initializer"] == PER_TRIAL and dense["units"] == 4
    assert dropout["rate"] == PER_TRIAL
    assert per["layers"] == {"mlp.0": {"activation": "tanh", "kernel_initializer": "glorot_uniform",
                                       "bias_initializer": "zeros"}, "mlp.1": {"rate": 0.2}}


@pytest.fixture
def noise_layer():
    """A GaussianNoise-like layer registered for one test: random, stateless, not dropout."""
    import jax.numpy as jnp

    def apply(cfg, p, x, *, state=None, key=None, hp=None, train=False):
        if not train:
            return x, state
        return x + (hp or {}).get("stddev", cfg["stddev"]) * jax.random.normal(key, x.shape, x.dtype), state

    entry = LAYERS.add(Entry("gaussian_noise", LayerType("GaussianNoise", lambda c, s: s, apply, needs_rng=True),
                             "additive Gaussian noise while training",
                             (Param("stddev", 0.1, "noise standard deviation", per_trial=True),),
                             meta={"check": lambda cfg: None}))
    yield entry
    del LAYERS._entries[entry.name]


def test_a_new_random_layer_gets_keys_and_its_per_trial_value(noise_layer):
    """Only the registry entry is added: the program splits keys for it and routes its per-trial stddev."""
    model = ('layers = [{ type = "flatten" }, { type = "dense", units = 4 }, { type = "gaussian_noise" }, '
             '{ type = "flatten" }]')
    study = _study(model, "sgd", "model.layers.2.stddev", [0.0, 1.0])
    (group,) = plan_groups(study.trials)
    quiet, noisy = train_group(list(group.trials), study_seed=0)
    alone, _ = train_group([group.trials[1]] * 2, study_seed=0)
    np.testing.assert_allclose(noisy.history[("train", "loss")], alone.history[("train", "loss")], rtol=1e-5)
    assert noisy.history[("train", "loss")] != quiet.history[("train", "loss")]


def test_a_group_whose_models_differ_in_structure_is_refused():
    """Were planning to group trials whose models differ, the trainer refuses (no silent trial-0 value)."""
    from sweeplab.data.pipeline import HeadInfo
    from sweeplab.engine.hparams import group_model
    from sweeplab.models.model import build_model
    from sweeplab.spec.schema import ModelSpec, TrainSpec

    heads = {"output": HeadInfo("output", "multiclass", 10, None)}
    m1, m2, m3 = (build_model(ModelSpec.model_validate({"mlp": mlp}), TrainSpec(), heads, (64,))
                  for mlp in ({"hidden": [4]}, {"hidden": [4], "activation": "tanh"}, {"hidden": [5]}))
    model, hps = group_model([m1, m2])  # per trial: the hidden activation, an index into the candidates
    assert dict(model.trunk[0].cfg)["activation"] == ("relu", "tanh")
    assert [h["dense"]["activation"] for h in hps] == [0, 1]
    with pytest.raises(RuntimeError, match="differ in model structure"):
        group_model([m1, m3])
