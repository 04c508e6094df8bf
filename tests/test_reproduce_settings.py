"""train.shuffle = "once" and train.defaults (issue 12: fidelity settings for the seed reports)."""

from __future__ import annotations

import numpy as np
import pytest

from sweeplab.engine import trainer
from sweeplab.engine.plan import plan_groups
from sweeplab.engine.trainer import train_group
from sweeplab.spec.errors import StudyError
from sweeplab.spec.expand import TrialSpec, study_from_text
from sweeplab.vocab.optimizers import KERAS_DEFAULTS, OPTIMIZERS, make_optimizer

STUDY = """
[study]
name = "t"
seed = 3
repeats = 2

[data]
dataset = "digits"
validation_split = 0.2

[model]
mlp = {{ hidden = [8] }}

[train]
optimizer = "{optimizer}"
batch_size = 64
epochs = 3
{extra}
"""


def make(optimizer="adam", extra=""):
    return study_from_text(STUDY.format(optimizer=optimizer, extra=extra))


def _orders(monkeypatch, shuffle):
    """Every epoch's row order of a 3-epoch, 2-trial group, and the trained results."""
    seen = []
    original = trainer._Setup.epoch_order

    def spy(self, shufflers):
        order = original(self, shufflers)
        seen.append(np.asarray(order))
        return order

    monkeypatch.setattr(trainer._Setup, "epoch_order", spy)
    study = make(extra=f"shuffle = {shuffle}")
    (group,) = plan_groups(study.trials)
    results = train_group(list(group.trials), study_seed=3)
    return seen, results


def test_shuffle_once_reuses_the_first_permutation(monkeypatch):
    seen, _ = _orders(monkeypatch, '"once"')
    assert len(seen) == 3
    for order in seen[1:]:
        np.testing.assert_array_equal(order, seen[0])
    # still a permutation (not the data order), and each trial its own
    assert not np.array_equal(seen[0][0], np.sort(seen[0][0]))
    assert not np.array_equal(seen[0][0], seen[0][1])


def test_shuffle_true_reshuffles_every_epoch_and_is_unchanged(monkeypatch):
    seen, results = _orders(monkeypatch, "true")
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])
    # epoch 1 of "once" is epoch 1 of true (same shuffler): "once" only stops the reshuffling
    seen_once, once = _orders(monkeypatch, '"once"')
    np.testing.assert_array_equal(seen_once[0], seen[0])
    assert len(results) == len(once) == 2
    for r, o in zip(results, once):  # same seeds, same order: same first epoch
        np.testing.assert_allclose(o.history[("train", "loss")][0], r.history[("train", "loss")][0], rtol=1e-6)
        assert o.history[("train", "loss")][1:] != r.history[("train", "loss")][1:]


def test_shuffle_rejects_other_values():
    with pytest.raises(StudyError, match=r"train\.shuffle.*true, false or \"once\""):
        make(extra='shuffle = "twice"')


@pytest.mark.parametrize("version", list(KERAS_DEFAULTS))
def test_defaults_write_the_versions_values_into_the_trial(version):
    for name, expected in [("adagrad", KERAS_DEFAULTS[version].get("adagrad", {})),
                           ("nadam", KERAS_DEFAULTS[version].get("nadam", {}))]:
        train = make(name, f'defaults = "{version}"').trials[0].config["train"]
        values = {**OPTIMIZERS.get(name).defaults(), **train["optimizer_params"]}
        if train["learning_rate"] is not None:
            values["learning_rate"] = train["learning_rate"]
        for k, v in expected.items():
            assert values[k] == v, (version, name, k)
        # the stored config rebuilds the same trial (explicit values, no double merge)
        assert TrialSpec.model_validate({"data": {"dataset": "digits"}, "model": {"mlp": {"hidden": [8]}},
                                         "train": train}).config()["train"] == train


def test_keras23_values_are_the_documented_ones():
    # docs/reproductions/keras-defaults.md, Keras 2.3.1 keras/optimizers.py
    t = lambda o: make(o, 'defaults = "keras2.3"').trials[0].config["train"]  # noqa: E731
    assert t("adagrad")["learning_rate"] == 0.01 and t("adagrad")["optimizer_params"] == {"initial_accumulator_value": 0.0}
    assert t("adadelta")["learning_rate"] == 1.0
    assert t("adamax")["learning_rate"] == 0.002
    assert t("nadam")["learning_rate"] == 0.002 and t("nadam")["optimizer_params"]["schedule_decay"] == 0.004
    assert t("adam")["learning_rate"] is None and t("sgd")["learning_rate"] is None
    assert make("adadelta", 'defaults = "tf.keras2.4"').trials[0].config["train"]["learning_rate"] is None


def test_explicit_values_win_over_the_version():
    train = make("adagrad", 'defaults = "keras2.3"\nlearning_rate = 0.5\n'
                            'optimizer_params = { initial_accumulator_value = 0.2 }').trials[0].config["train"]
    assert train["learning_rate"] == 0.5 and train["optimizer_params"] == {"initial_accumulator_value": 0.2}


def test_keras3_default_leaves_configs_unchanged():
    # no "defaults" key when it is keras3: trial ids of existing studies stay the same
    a, b = make("adagrad"), make("adagrad", 'defaults = "keras3"')
    assert "defaults" not in a.trials[0].config["train"]
    assert [t.trial_id for t in a.trials] == [t.trial_id for t in b.trials]


def test_defaults_rejects_unknown_version():
    with pytest.raises(StudyError, match=r"^[^\n]*train\.defaults.*keras3, tf\.keras2\.4, keras2\.3[^\n]*$"):
        make(extra='defaults = "keras2"')


def _keras23_nadam(grads, lr=0.002, b1=0.9, b2=0.999, eps=1e-7, sd=0.004):
    """Keras 2.3.1 keras/optimizers.py Nadam.get_updates (l. 666-710), in NumPy."""
    w, m, v, sched = np.ones(3), np.zeros(3), np.zeros(3), 1.0
    for t, g in enumerate(grads, 1):
        cache_t = b1 * (1.0 - 0.5 * 0.96 ** (t * sd))
        cache_t1 = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * sd))
        sched_new = sched * cache_t
        sched_next = sched * cache_t * cache_t1
        sched = sched_new
        g_prime = g / (1.0 - sched_new)
        m = b1 * m + (1.0 - b1) * g
        m_prime = m / (1.0 - sched_next)
        v = b2 * v + (1.0 - b2) * g * g
        v_prime = v / (1.0 - b2 ** t)
        m_bar = (1.0 - cache_t) * g_prime + cache_t1 * m_prime
        w = w - lr * m_bar / (np.sqrt(v_prime) + eps)
    return w


def test_nadam_keras23_defaults_follow_keras23_update_rule():
    import jax.numpy as jnp
    import optax
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=3) for _ in range(50)]
    train = make("nadam", 'defaults = "keras2.3"').trials[0].config["train"]
    opt = make_optimizer("nadam", {**train["optimizer_params"], "learning_rate": train["learning_rate"]})
    p = {"w": jnp.ones([3])}
    st = opt.init(p)
    for g in grads:
        u, st = opt.update({"w": jnp.asarray(g, jnp.float32)}, st, p)
        p = optax.apply_updates(p, u)
    np.testing.assert_allclose(np.asarray(p["w"]), _keras23_nadam(grads), rtol=1e-5, atol=1e-6)
    # and Keras 3's schedule is measurably different on the same gradients
    assert not np.allclose(_keras23_nadam(grads, sd=1.0), _keras23_nadam(grads), rtol=1e-4, atol=1e-6)


def test_augment_noise_in_raw_units_is_scaled_by_the_normalisation():
    # seed 002 adds its noise before normalising: sigma raw units are sigma / std after it
    from sweeplab.data.pipeline import clear_cache, prepare
    from sweeplab.data.spec import DataSpec

    base = {"dataset": "synthetic2d", "params": {"function": "f1", "n_samples": 400},
            "normalize": "standardize", "test_size": 0.2}

    def train_x(**extra):
        clear_cache()
        return np.asarray(prepare(DataSpec.model_validate({**base, **extra}), seed=0).train.x, np.float64)

    aug = lambda sigma, units: {"augment": {"fraction": 1.0, "sigma": sigma, "units": units}}  # noqa: E731
    raw_std = train_x(normalize="none").std(axis=0)
    n = len(raw_std) and len(train_x())
    # same copies and draws for every sigma: the difference of two sigmas is the unit noise
    unit_model = train_x(**aug(2.0, "model"))[n:] - train_x(**aug(1.0, "model"))[n:]
    unit_raw = train_x(**aug(2.0, "raw"))[n:] - train_x(**aug(1.0, "raw"))[n:]
    ratio = unit_raw / unit_model
    np.testing.assert_allclose(ratio, np.broadcast_to(1.0 / raw_std, ratio.shape), rtol=1e-3)
    assert not np.allclose(raw_std, 1.0)  # the test can tell the two units apart
    assert "units" not in DataSpec.model_validate({**base, "augment": {"sigma": 1.0}}).model_dump()["augment"]


def test_defaults_with_a_wrong_optimizer_params_type_is_one_line():
    # found by tests/test_spec_fuzz.py: the defaults merge must not crash on a non-table
    with pytest.raises(StudyError, match=r"optimizer_params"):
        make("adagrad", 'defaults = "keras2.3"\noptimizer_params = 3')
    with pytest.raises(StudyError, match=r"optimizer_params"):
        make("adagrad", "optimizer_params = 3")
