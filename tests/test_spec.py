"""Study files: every kind of mistake is one line naming the field, the value and what is
accepted; valid files expand into the right trials, with stable ids."""

from __future__ import annotations

import textwrap

import pytest

from sweeplab.spec.errors import StudyError
from sweeplab.spec.expand import TrialSpec, load_study, study_from_text

BASE = {
    "study": 'name = "t"',
    "data": 'dataset = "digits"',
    "model": "mlp = { hidden = [8] }",
    "train": "epochs = 1",
}


def study(extra: str = "", **sections: str) -> str:
    """A small valid study on the bundled digits, with sections replaced or added."""
    parts = {**BASE, **sections}
    text = "\n".join(f"[{name}]\n{body}" for name, body in parts.items() if body is not None)
    return text + "\n" + textwrap.dedent(extra)


def error_of(text: str, source: str = "bad.toml") -> str:
    with pytest.raises(StudyError) as info:
        study_from_text(text, source)
    return str(info.value)


ACTS = "accepted: linear, relu, sigmoid, tanh"
# (id, study text, substrings the one-line message must contain)
INVALID = [
    ("unknown-section", study('[optimiser]\nname = "adam"'),
     ["unknown key 'optimiser'", "accepted keys: data, model, report, search, study, sweep, train"]),
    ("unknown-train-key", study(train="epochs = 1\nepoch = 3"),
     ["unknown key 'train.epoch'", "batch_size", "epochs"]),
    ("wrong-type", study(train='epochs = "ten"'),
     ["field 'train.epochs'", "integer", "(got 'ten')"]),
    ("batch-size-zero", study(train="batch_size = 0"),
     ["field 'train.batch_size'", 'positive integer or "full"', "(got 0)"]),
    ("batch-size-string", study(train='batch_size = "half"'),
     ["field 'train.batch_size'", 'positive integer or "full"', "(got 'half')"]),
    ("unknown-activation", study(model='mlp = { hidden = [8], activation = "rleu" }'),
     ["field 'model.mlp.activation'", "'rleu'", "did you mean 'relu'?", ACTS]),
    ("unknown-optimizer", study(train='optimizer = "adamm"'),
     ["field 'train.optimizer'", "'adamm'", "did you mean 'adam'?", "accepted: sgd, rmsprop"]),
    ("unknown-optimizer-param", study(train='optimizer = { name = "adam", momentum = 0.9 }'),
     ["field 'train.optimizer.momentum'", "'momentum'", "'adam'", "accepted: learning_rate, beta_1", "(got 0.9)"]),
    ("unknown-optimizer-params-key", study(train='optimizer = "sgd"\noptimizer_params = { rho = 0.9 }'),
     ["field 'train.optimizer_params.rho'", "accepted: learning_rate, momentum, nesterov"]),
    ("bad-optimizer-param-value", study(train='optimizer = { name = "adam", beta_1 = 1.5 }'),
     ["field 'train.optimizer.beta_1'", "[0, 1)", "1.5"]),
    ("negative-learning-rate", study(train="learning_rate = -1"),
     ["field 'train.learning_rate'", "greater than 0", "(got -1)"]),
    ("unknown-initializer", study(model='mlp = { hidden = [8], kernel_initializer = "glorot" }'),
     ["field 'model.mlp.kernel_initializer'", "'glorot'", "did you mean", "accepted: zeros, ones"]),
    ("unknown-loss", study(train='loss = "crossentropy"'),
     ["field 'train.loss'", "'crossentropy'", "accepted: binary_crossentropy"]),
    ("unknown-metric", study(train='metrics = ["accuracy", "auc"]'),
     ["field 'train.metrics[1]'", "'auc'", "accepted: accuracy, precision, recall, f1"]),
    ("unknown-dataset", study(data='dataset = "mnits"'),
     ["field 'data.dataset'", "'mnits'", "did you mean 'mnist'?", "accepted: mnist"]),
    ("unknown-layer-type", study(model='layers = [{ type = "flatten" }, { type = "dense2", units = 3 }]'),
     ["field 'model.layers[1]'", "'dense2'", "did you mean 'dense'?", "accepted: dense, conv2d"]),
    ("unknown-layer-param", study(model='layers = [{ type = "flatten" }, { type = "dense", units = 10, unit = 4 }]'),
     ["field 'model.layers[1]'", "'unit'", "'dense'", "accepted: activation"]),
    ("dropout-rate", study(model='layers = [{ type = "flatten" }, { type = "dropout", rate = 1.5 }, '
                                 '{ type = "dense", units = 10 }]'),
     ["field 'model.layers[1].rate'", "The 'rate' parameter of dropout", "[0, 1)", "1.5"]),
    ("mlp-dropout", study(model="mlp = { hidden = [8], dropout = 1.5 }"),
     ["field 'model.mlp.dropout'", "less than 1", "(got 1.5)"]),
    ("both-mlp-and-layers", study(model='mlp = { hidden = [8] }\nlayers = [{ type = "flatten" }]'),
     ["field 'model'", "both 'layers' and 'mlp'"]),
    ("neither-mlp-nor-layers", study(model=""),
     ["field 'model'", "'layers = [...]' or 'mlp = {...}'"]),
    ("repeats-zero", study(study='name = "t"\nrepeats = 0'),
     ["field 'study.repeats'", "greater than or equal to 1", "(got 0)"]),
    ("sweep-path-outside", study('[sweep]\n"study.seed" = [1, 2]'),
     ["field 'sweep.\"study.seed\"'", "data, model, train"]),
    ("sweep-path-not-dotted", study('[sweep]\nbatch_size = [16, 32]'),
     ["field 'sweep.\"batch_size\"'", "data, model, train"]),
    ("sweep-path-unknown-field", study('[sweep]\n"train.batchsize" = [16, 32]'),
     ["unknown key 'train.batchsize'", "accepted keys: batch_size", "[sweep: train.batchsize = 16]"]),
    ("sweep-value-invalid", study('[sweep]\n"train.batch_size" = [32, 0, 64]'),
     ["field 'train.batch_size'", "(got 0)", "[sweep: train.batch_size = 0]"]),
    ("sweep-value-unknown-name", study('[sweep]\n"model.mlp.activation" = ["relu", "tanhh"]'),
     ["field 'model.mlp.activation'", "'tanhh'", "did you mean 'tanh'?", ACTS,
      "[sweep: model.mlp.activation = 'tanhh']"]),
    ("zip-unequal-lengths", study('[[sweep.zip]]\n"train.batch_size" = [32, 64]\n"train.epochs" = [1, 2, 3]'),
     ["field 'sweep.zip[0]'", "one length", "'train.batch_size': 2", "'train.epochs': 3"]),
    ("zip-value-invalid", study('[[sweep.zip]]\n"train.batch_size" = [32, -1]\n"train.epochs" = [1, 2]'),
     ["field 'train.batch_size'", "(got -1)", "[sweep: train.batch_size = -1, train.epochs = 2]"]),
    ("sweep-not-a-list", study('[sweep]\n"train.batch_size" = 32'),
     ["field 'sweep.\"train.batch_size\"'", "non-empty list", "(got 32)"]),
    ("sweep-empty-list", study('[sweep]\n"train.batch_size" = []'),
     ["field 'sweep.\"train.batch_size\"'", "non-empty list", "(got [])"]),
    ("sweep-repeated-value", study('[sweep]\n"train.batch_size" = [32, 32]'),
     ["identical trials"]),
    ("toml-syntax", study() + "\n[[[ broken",
     ["bad.toml: not valid TOML", "line"]),
    ("hidden-zero", study(model="mlp = { hidden = [8, 0] }"),
     ["field 'model.mlp.hidden[1]'", ">= 1", "(got 0)"]),
    ("missing-name", study(study="repeats = 2"),
     ["missing required field 'study.name'"]),
    ("unknown-head-key", study(model='mlp = { hidden = [8] }\nheads = [{ name = "output", unit = 10 }]'),
     ["unknown key 'model.heads[0].unit'", "accepted keys: activation, hidden, loss"]),
    ("validation-split", study(data='dataset = "digits"\nvalidation_split = 1.5'),
     ["field 'data.validation_split'", "less than 1", "(got 1.5)"]),
    ("task-type", study(data='dataset = "digits"\ntask = "ternary"'),
     ["field 'data.task'", "'ternary'", "accepted: multiclass, binary, regression"]),
    ("early-stopping-key", study(train="epochs = 1\nearly_stopping = { patiense = 2 }"),
     ["unknown key 'train.early_stopping.patiense'", "patience"]),
    ("early-stopping-monitor", study(train='epochs = 1\nearly_stopping = { monitor = "val_auc" }'),
     ["field 'train.early_stopping.monitor'", "'val_auc'", "accepted: loss, accuracy"]),
    ("optimizer-table-without-name", study(train="optimizer = { momentum = 0.9 }"),
     ["field 'train.optimizer'", "needs a name"]),
    ("cross-validation-one", study(train="epochs = 1\ncross_validation = 1"),
     ["field 'train.cross_validation'", "(got 1)"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_study_is_one_clear_line(text, expected):
    msg = error_of(text)
    assert msg.startswith("bad.toml: ")
    assert "\n" not in msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"
    # pydantic's internal location names and type tags never leak into a message
    for leak in ("function-after", "literal[", ".int'", "Input should", "Value error"):
        assert leak not in msg, msg


def test_yaml_variant_is_validated_the_same_way():
    text = textwrap.dedent("""\
        study: {name: t}
        data: {dataset: digits}
        model: {mlp: {hidden: [8], activation: rleu}}
        train: {epochs: 1}
        """)
    msg = error_of(text, "bad.yaml")
    assert msg.startswith("bad.yaml: field 'model.mlp.activation'")
    assert "'rleu'" in msg and "did you mean 'relu'?" in msg and ACTS in msg


def test_yaml_syntax_error_names_the_line():
    msg = error_of("study:\n  name: t\n data: x: 1\n", "bad.yaml")
    assert msg.startswith("bad.yaml: not valid YAML") and "line 3" in msg and "\n" not in msg


def test_unknown_study_name_lists_builtin_studies(tmp_path):
    with pytest.raises(StudyError, match="no built-in study of that name; built-in studies: .*quickstart"):
        load_study(tmp_path / "nope.toml")


def test_binary_file_is_rejected(tmp_path):
    p = tmp_path / "study.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(StudyError, match="not a text file"):
        load_study(p)


# --------------------------------------------------------------------- errors at build time
@pytest.mark.parametrize("model, train, expected", [
    ('mlp = { hidden = [8] }\nheads = [{ name = "hour", units = 10 }]', "epochs = 1",
     ["model.heads", "'hour'", "targets are: output"]),
    ("mlp = { hidden = [8] }", 'epochs = 1\nloss = "binary_crossentropy"',
     ["train.loss", "'binary_crossentropy'", "multiclass", "sparse_categorical_crossentropy"]),
], ids=["head-not-a-target", "loss-does-not-fit-task"])
def test_model_mismatch_is_found_when_planning(model, train, expected):
    from sweeplab.engine.run import plan

    s = study_from_text(study(model=model, train=train), "bad.toml")
    with pytest.raises(ValueError) as info:
        plan(s)
    msg = str(info.value)
    assert "\n" not in msg
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


# --------------------------------------------------------------------- expansion
def test_grid_times_repeats():
    s = study_from_text(study(
        '[sweep]\n"train.batch_size" = [16, 32, "full"]\n"model.mlp.activation" = ["relu", "tanh", "elu"]',
        study='name = "t"\nseed = 5\nrepeats = 2'))
    assert len(s.trials) == 18  # 3 x 3 configurations x 2 repeats
    assert s.axes == ("train.batch_size", "model.mlp.activation")
    assert len({t.config_id for t in s.trials}) == 9
    assert len({t.trial_id for t in s.trials}) == 18
    assert {t.seed for t in s.trials} == {5, 6}                      # seed = study.seed + repeat
    assert all(t.seed == 5 + t.repeat for t in s.trials)
    combos = {(t.config["train"]["batch_size"], t.config["model"]["mlp"]["activation"]) for t in s.trials}
    assert combos == {(b, a) for b in (16, 32, "full") for a in ("relu", "tanh", "elu")}
    for t in s.trials:  # overrides are exactly the swept values, and they reached the config
        assert t.overrides == {"train.batch_size": t.config["train"]["batch_size"],
                               "model.mlp.activation": t.config["model"]["mlp"]["activation"]}


def test_zip_axes_vary_together():
    s = study_from_text(study("""
        [sweep]
        "model.mlp.dropout" = [0.0, 0.2]
        [[sweep.zip]]
        "train.optimizer" = ["sgd", "adam", "rmsprop"]
        "train.learning_rate" = [0.1, 0.001, 0.01]
        """))
    assert len(s.trials) == 2 * 3
    pairs = {(t.config["train"]["optimizer"], t.config["train"]["learning_rate"]) for t in s.trials}
    assert pairs == {("sgd", 0.1), ("adam", 0.001), ("rmsprop", 0.01)}
    assert set(s.axes) == {"model.mlp.dropout", "train.optimizer", "train.learning_rate"}


def test_cross_validation_multiplies_trials_by_k():
    s = study_from_text(study('[sweep]\n"model.mlp.hidden" = [[4], [16]]',
                              study='name = "t"\nrepeats = 2', train="epochs = 1\ncross_validation = 3"))
    assert len(s.trials) == 2 * 2 * 3
    assert sorted({t.fold for t in s.trials}) == [0, 1, 2]
    assert len({t.config_id for t in s.trials}) == 2


def test_trial_ids_stable_across_loads_and_depend_on_seed(tmp_path):
    text = study('[sweep]\n"train.batch_size" = [16, 32]', study='name = "t"\nrepeats = 2')
    p = tmp_path / "s.toml"
    p.write_text(text)
    ids1 = [t.trial_id for t in load_study(p).trials]
    ids2 = [t.trial_id for t in load_study(p).trials]
    assert ids1 == ids2 and len(set(ids1)) == 4
    p.write_text(text.replace('name = "t"', 'name = "t"\nseed = 7'))
    ids3 = [t.trial_id for t in load_study(p).trials]
    assert not set(ids3) & set(ids1)
    # the name and description do not change what a trial is
    p.write_text(text.replace('name = "t"', 'name = "renamed"\ndescription = "x"'))
    assert [t.trial_id for t in load_study(p).trials] == ids1


def test_yaml_and_toml_give_identical_trials(tmp_path):
    toml = study('[sweep]\n"train.batch_size" = [16, "full"]\n[[sweep.zip]]\n'
                 '"train.optimizer" = [{ name = "sgd", momentum = 0.9 }, "adam"]\n'
                 '"train.learning_rate" = [0.1, 0.001]',
                 study='name = "t"\nrepeats = 2')
    yaml = textwrap.dedent("""\
        study:
          name: t
          repeats: 2
        data:
          dataset: digits
        model:
          mlp:
            hidden: [8]
        train:
          epochs: 1
        sweep:
          train.batch_size: [16, full]
          zip:
            - train.optimizer: [{name: sgd, momentum: 0.9}, adam]
              train.learning_rate: [0.1, 0.001]
        """)
    (tmp_path / "s.toml").write_text(toml)
    (tmp_path / "s.yaml").write_text(yaml)
    a, b = load_study(tmp_path / "s.toml"), load_study(tmp_path / "s.yaml")
    assert len(a.trials) == 8
    assert [(t.trial_id, t.config, t.overrides) for t in a.trials] == \
           [(t.trial_id, t.config, t.overrides) for t in b.trials]


def test_trial_config_round_trips():
    s = study_from_text(study(
        '[sweep]\n"train.optimizer" = [{ name = "sgd", momentum = 0.9, nesterov = true }, "adam"]',
        model='layers = [{ type = "flatten" }, { type = "dense", units = 16, activation = "relu" },'
              ' { type = "dropout", rate = 0.2 }, { type = "dense", units = 10 }]',
        train='epochs = 2\nbatch_size = "full"\nmetrics = ["accuracy", "f1"]\n'
              'early_stopping = { patience = 2 }'))
    for t in s.trials:
        spec = TrialSpec.model_validate(t.config)
        again = {"data": spec.data.model_dump(mode="json"),
                 "model": spec.model.model_dump(mode="json", exclude_none=True),
                 "train": spec.train.model_dump(mode="json")}
        assert again == t.config


def test_optimizer_table_values_win_over_base_values():
    """A sweep over optimizer tables gives each optimizer its own learning rate and parameters."""
    s = study_from_text(study(
        '[sweep]\n"train.optimizer" = [{ name = "sgd", learning_rate = 0.1, momentum = 0.9 }, "adam"]',
        train='epochs = 1\nlearning_rate = 0.01\noptimizer = { name = "sgd", momentum = 0.5 }'))
    by_opt = {t.config["train"]["optimizer"]: t.config["train"] for t in s.trials}
    assert by_opt["sgd"]["learning_rate"] == 0.1 and by_opt["sgd"]["optimizer_params"] == {"momentum": 0.9}
    # a swept value replaces the whole base table: adam gets no momentum, and the base learning rate
    assert by_opt["adam"]["learning_rate"] == 0.01 and by_opt["adam"]["optimizer_params"] == {}


def test_names_are_canonicalised():
    s = study_from_text(study(model='mlp = { hidden = [8], activation = "ReLU" }',
                              train='epochs = 1\noptimizer = "Adam"'))
    cfg = s.trials[0].config
    assert cfg["model"]["mlp"]["activation"] == "relu" and cfg["train"]["optimizer"] == "adam"


def test_early_stopping_monitor_is_canonicalised():
    s = study_from_text(study(train='epochs = 1\nearly_stopping = { monitor = "val_acc", patience = 2 }'))
    assert s.trials[0].config["train"]["early_stopping"]["monitor"] == "val_accuracy"


def test_builtin_quickstart():
    s = load_study("quickstart")
    assert s.name == "quickstart" and len(s.trials) == 18
    assert s.axes == ("model.mlp.activation", "model.mlp.hidden")
