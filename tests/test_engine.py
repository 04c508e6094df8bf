"""Engine behaviour: vmapped groups, Keras batch semantics, divergence, early stopping, compilation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sweeplab.engine.plan import plan_groups
from sweeplab.engine.trainer import train_group
from sweeplab.spec.expand import study_from_text

DIGITS = """
[study]
name = "t"
seed = 0
repeats = {repeats}

[data]
dataset = "digits"
validation_split = 0.2

[model]
mlp = {{ hidden = [16], activation = "tanh", dropout = {dropout} }}

[train]
optimizer = "{optimizer}"
learning_rate = 0.01
metrics = ["accuracy", "f1"]
batch_size = {batch_size}
epochs = {epochs}
{extra}

[sweep]
{sweep}
"""


def make(repeats=1, dropout=0.0, optimizer="adam", batch_size=32, epochs=3, extra="", sweep="", activation="tanh"):
    text = DIGITS.format(repeats=repeats, dropout=dropout, optimizer=optimizer, batch_size=batch_size,
                         epochs=epochs, extra=extra, sweep=sweep)
    return study_from_text(text.replace('"tanh"', f'"{activation}"'))


def _by_id(results):
    return {r.trial_id: r for r in results}


def test_vmapped_group_equals_trials_run_one_at_a_time():
    study = make(repeats=2, dropout=0.2, sweep='"train.learning_rate" = [0.01, 0.003]')
    (group,) = plan_groups(study.trials)
    assert len(group.trials) == 4  # learning rate and seed are per-trial numbers: one program
    together = _by_id(train_group(list(group.trials), study_seed=0))
    for t in group.trials:
        (alone,) = train_group([t], study_seed=0)
        both = together[t.trial_id]
        for key, values in alone.history.items():
            np.testing.assert_allclose(both.history[key], values, rtol=1e-5, atol=1e-5, err_msg=str(key))
        for name, arr in alone.params.items():
            np.testing.assert_allclose(both.params[name], arr, rtol=1e-5, atol=1e-5, err_msg=name)
    # and the trials really differ from each other
    a, b = (together[t.trial_id].history[("train", "loss")] for t in group.trials[:2])
    assert a != b


def test_no_recompilation_after_first_epoch():
    study = make(epochs=4)
    (group,) = plan_groups(study.trials)
    train_group(list(group.trials), study_seed=0)
    from sweeplab.engine import trainer

    (program,) = trainer._PROGRAMS.values()
    assert program.epoch._cache_size() == 1
    assert program.evaluate._cache_size() == 1
    # a second group of the same structure reuses the compiled program
    train_group(list(group.trials), study_seed=0)
    assert program.epoch._cache_size() == 1


def _manual_sgd(study, steps_of):
    """Reference: plain SGD on the mean loss of each batch, written with jax.grad directly."""
    trial = study.trials[0]
    from sweeplab.trial import TrialContext
    from sweeplab.vocab.losses import LOSSES

    ctx = TrialContext.from_config(trial.config, 0)
    prep, model = ctx.data, ctx.model
    key = jax.random.split(jax.random.PRNGKey(trial.seed))[0]
    params, state = model.init(key)
    a, b = prep.affine
    x = prep.train.x.astype(np.float32) * a + b
    y = prep.train.y["output"]
    head = model.heads[0]

    def loss(p, xb, yb):
        z = model.apply(p, state, xb)[0]["output"]
        return jnp.mean(LOSSES.get(head.loss).obj(z, yb, head.activation))

    for idx in steps_of(len(x)):
        g = jax.grad(loss)(params, x[idx], y[idx])
        params = jax.tree_util.tree_map(lambda w, gw: w - 0.01 * gw, params, g)
    return params


@pytest.mark.parametrize("batch_size", [500, '"full"'])
def test_keras_batches_last_partial_batch_and_full_batch(batch_size):
    """Unshuffled SGD: steps of 500 with a smaller last batch (Keras), or one full batch."""
    study = make(optimizer="sgd", batch_size=batch_size, epochs=1, extra="shuffle = false")
    (res,) = train_group(list(study.trials), study_seed=0)

    def steps(n):
        bs = n if batch_size == '"full"' else 500
        return [np.arange(i, min(i + bs, n)) for i in range(0, n, bs)]

    ref = _manual_sgd(study, steps)
    for layer, leaves in ref.items():
        for name, arr in leaves.items():
            np.testing.assert_allclose(res.params[f"{layer}/{name}"], np.asarray(arr), rtol=2e-4, atol=2e-6)


def test_diverged_trial_is_flagged_and_others_go_on():
    study = make(optimizer="sgd", epochs=3, activation="relu", sweep='"train.learning_rate" = [0.1, 1e30]')
    (group,) = plan_groups(study.trials)
    results = train_group(list(group.trials), study_seed=0)
    by_lr = {t.config["train"]["learning_rate"]: r for t, r in zip(group.trials, results)}
    bad, good = by_lr[1e30], by_lr[0.1]
    assert bad.status == "diverged" and bad.diverged_epoch == 1
    assert good.status == "finished" and good.epochs_run == 3
    assert np.isfinite(good.history[("train", "loss")]).all()
    assert good.test["accuracy"] > 0.5


def test_early_stopping_per_trial_with_restore_best_weights():
    es = 'early_stopping = { monitor = "val_loss", patience = 1, restore_best_weights = true }'
    study = make(optimizer="adam", epochs=40, extra=es, sweep='"train.learning_rate" = [0.05, 0.0005]')
    (group,) = plan_groups(study.trials)
    results = train_group(list(group.trials), study_seed=0)
    fast = results[0]  # lr 0.05 overfits quickly and stops early
    slow = results[1]
    assert fast.stopped_epoch is not None and fast.stopped_epoch < 40
    assert fast.epochs_run == fast.stopped_epoch
    assert slow.epochs_run > fast.epochs_run
    vl = fast.history[("val", "loss")]
    assert fast.best_epoch == int(np.argmin(vl)) + 1
    # restored weights: the final val loss reported is the best one
    assert fast.final["val_loss"] == pytest.approx(min(vl))


def test_gradient_norms_match_direct_jax_grad():
    study = make(optimizer="sgd", batch_size='"full"', epochs=1, extra="shuffle = false\ngradient_norms = true")
    (res,) = train_group(list(study.trials), study_seed=0)
    keys = sorted(k for s, k in res.history if s == "grad")
    assert keys == ["dense/bias", "dense/kernel", "dense_1/bias", "dense_1/kernel"]
    # one full batch: the recorded norm is the norm of the gradient at the initial weights
    from sweeplab.trial import TrialContext
    from sweeplab.vocab.losses import LOSSES

    t = study.trials[0]
    ctx = TrialContext.from_config(t.config, 0)
    prep, model = ctx.data, ctx.model
    params, state = model.init(jax.random.split(jax.random.PRNGKey(t.seed))[0])
    x = prep.train.x.astype(np.float32) * prep.affine[0] + prep.affine[1]
    head = model.heads[0]
    g = jax.grad(lambda p: jnp.mean(LOSSES.get(head.loss).obj(model.apply(p, state, x)[0]["output"],
                                                              prep.train.y["output"], head.activation)))(params)
    for k in keys:
        layer, name = k.split("/")
        assert res.history[("grad", k)][0] == pytest.approx(float(jnp.linalg.norm(g[layer][name])), rel=1e-4)


def test_cross_validation_trains_each_fold_on_its_own_split():
    study = make(epochs=2, extra="cross_validation = 3")
    assert len(study.trials) == 3 and sorted(t.fold for t in study.trials) == [0, 1, 2]
    results = train_group(list(study.trials), study_seed=0)
    vals = [r.history[("val", "loss")][-1] for r in results]
    assert len(set(vals)) == 3  # different held-out folds give different validation losses


def test_keras_parameter_count_of_seed001_five_layer_net():
    from sweeplab.models.model import build_model
    from sweeplab.spec.schema import ModelSpec, TrainSpec
    from sweeplab.data.pipeline import HeadInfo

    spec = ModelSpec.model_validate({"mlp": {"units": 32, "depth": 4, "activation": "relu"}})
    heads = {"output": HeadInfo("output", "multiclass", 10, None)}
    model = build_model(spec, TrainSpec(), heads, (28, 28, 1))
    assert model.n_params == 28_618
    assert [n.n_params for n in model.nodes()] == [0, 25120, 1056, 1056, 1056, 330]


def test_sweep_path_can_index_a_layer_list():
    text = DIGITS.format(repeats=1, dropout=0.0, optimizer="adam", batch_size=32, epochs=1, extra="",
                         sweep='"model.layers.1.activation" = ["relu", "tanh"]')
    text = text.replace('mlp = { hidden = [16], activation = "tanh", dropout = 0.0 }',
                        'layers = [{ type = "flatten" }, { type = "dense", units = 8 }, '
                        '{ type = "dense", units = 10, activation = "softmax" }]')
    study = study_from_text(text)
    acts = [t.config["model"]["layers"][1]["activation"] for t in study.trials]
    assert acts == ["relu", "tanh"]
    with pytest.raises(Exception, match="model.layers.7"):
        study_from_text(text.replace("model.layers.1.activation", "model.layers.7.activation"))


def test_initializers_are_per_trial_in_one_group():
    study = make(epochs=1, sweep='"model.mlp.kernel_initializer" = ["zeros", "glorot_uniform"]')
    (group,) = plan_groups(study.trials)  # one compiled program for both initializers
    zeros, glorot = train_group(list(group.trials), study_seed=0)
    # zero kernels give every hidden unit the same gradient: the columns stay identical
    k = zeros.params["dense/kernel"]
    assert np.allclose(k, k[:, :1])
    assert not np.allclose(glorot.params["dense/kernel"], glorot.params["dense/kernel"][:, :1])
    (alone,) = train_group([group.trials[1]], study_seed=0)
    np.testing.assert_allclose(alone.params["dense/kernel"], glorot.params["dense/kernel"], rtol=1e-5, atol=1e-6)


def test_validation_data_test_records_per_epoch_test_curves():
    text = DIGITS.format(repeats=1, dropout=0.0, optimizer="adam", batch_size=32, epochs=2, extra="", sweep="")
    study = study_from_text(text.replace("validation_split = 0.2", 'validation_data = "test"'))
    (res,) = train_group(list(study.trials), study_seed=0)
    # the last epoch's validation numbers are the test numbers
    assert res.history[("val", "accuracy")][-1] == pytest.approx(res.test["accuracy"])
    assert res.history[("val", "loss")][-1] == pytest.approx(res.test["loss"], rel=1e-5)
    with pytest.raises(Exception, match="validation_data"):
        study_from_text(text.replace("validation_split = 0.2", 'validation_split = 0.2\nvalidation_data = "test"'))


def test_groups_over_the_memory_budget_are_split():
    from sweeplab.engine.run import plan

    study = make(repeats=6, epochs=1)
    (whole,) = plan(study)
    assert len(whole.trials) == 6
    parts = plan(study, budget_bytes=4 * 6 * 1210 * 2 + 4 * 3 * 32 * 100 * 2)  # room for about 2 trials
    assert len(parts) >= 2 and all(len(g.trials) <= 3 for g in parts)
    assert sorted(t.trial_id for g in parts for t in g.trials) == sorted(t.trial_id for t in whole.trials)


def test_hidden_activations_are_per_trial_and_match_single_runs():
    study = make(epochs=2, sweep='"model.mlp.activation" = ["relu", "tanh", "exponential"]')
    (group,) = plan_groups(study.trials)  # one compiled program for the three activations
    together = _by_id(train_group(list(group.trials), study_seed=0))
    for t in group.trials:
        (alone,) = train_group([t], study_seed=0)
        for key, values in alone.history.items():
            np.testing.assert_allclose(together[t.trial_id].history[key], values, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{t.overrides} {key}")
    losses = {t.overrides["model.mlp.activation"]: together[t.trial_id].history[("train", "loss")][-1]
              for t in group.trials}
    assert len(set(losses.values())) == 3


def test_output_activation_of_a_layer_list_stays_structure():
    text = DIGITS.format(repeats=1, dropout=0.0, optimizer="adam", batch_size=32, epochs=1, extra="",
                         sweep='"model.layers.2.activation" = ["softmax", "sigmoid"]')
    text = text.replace('mlp = { hidden = [16], activation = "tanh", dropout = 0.0 }',
                        'layers = [{ type = "flatten" }, { type = "dense", units = 8 }, '
                        '{ type = "dense", units = 10, activation = "softmax" }]')
    assert len(plan_groups(study_from_text(text).trials)) == 2
