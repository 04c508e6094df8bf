"""Malformed study files, after the 142 cases of the reliability review (section 3).

``CASES`` maps a case name to ``(category, expected, make)``: ``make(folder)`` writes
the case into ``folder`` and returns the path to pass to ``sweeplab check``;
``expected`` is ``"error"`` (one line, exit 2) or ``"ok"`` (a valid study).
Used by tests/test_spec_limits.py (a sample through the CLI) and by
``python tests/bad_studies.py`` (all of them, with a tally).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

BASE = """\
[study]
name = "case"
seed = 0
repeats = 1

[data]
dataset = "digits"
validation_split = 0.2

[model]
mlp = { hidden = [8], activation = "relu" }

[train]
optimizer = "adam"
learning_rate = 0.001
metrics = ["accuracy"]
batch_size = 32
epochs = 1
"""

BASE_YAML = """\
study:
  name: case
  seed: 0
  repeats: 1
data:
  dataset: digits
  validation_split: 0.2
model:
  mlp:
    hidden: [8]
    activation: relu
train:
  optimizer: adam
  learning_rate: 0.001
  epochs: 1
"""

SYNTH = BASE.replace('dataset = "digits"', 'dataset = "synthetic2d"\nparams = { n_samples = 200 }')


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A YAML flow list whose last item expands to width**levels strings (anchors a0..a{levels-1})."""
    parts = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "[" + ", ".join(parts) + "]"


Case = tuple[str, str, Callable[[Path], Path]]
CASES: dict[str, Case] = {}


def _text(name: str, category: str, expected: str, text: str | bytes, ext: str = "toml") -> None:
    def make(folder: Path) -> Path:
        p = folder / f"{name}.{ext}"
        (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
        return p

    CASES[name] = (category, expected, make)


def _toml(name, category, old, new, expected="error", base=BASE):
    assert old in base, (name, old)
    _text(name, category, expected, base.replace(old, new, 1))


def _add(name, category, section, line, expected="error", base=BASE):
    _toml(name, category, f"[{section}]\n", f"[{section}]\n{line}\n", expected, base)


def _yaml(name, category, text, expected="error"):
    _text(name, category, expected, text, "yaml")


def _special(name, category, make, expected="error"):
    CASES[name] = (category, expected, make)


# --- syntax ----------------------------------------------------------------------------------
_toml("toml_missing_eq", "syntax", 'name = "case"', 'name "case"')
_toml("toml_unclosed_string", "syntax", 'name = "case"', 'name = "case')
_add("toml_duplicate_key", "syntax", "study", "repeats = 2")
_text("toml_duplicate_table", "syntax", "error", BASE + "\n[train]\nepochs = 2\n")
_toml("toml_unclosed_array", "syntax", 'metrics = ["accuracy"]', 'metrics = ["accuracy"')
_toml("toml_multiline_inline_table", "syntax", 'mlp = { hidden = [8], activation = "relu" }',
      'mlp = { hidden = [8],\n  activation = "relu" }')
_yaml("yaml_bad_indent", "syntax", BASE_YAML.replace("  seed: 0", "    seed: 0"))
_yaml("yaml_tab_indent", "syntax", BASE_YAML.replace("  name: case", "\tname: case"))
_yaml("yaml_unclosed_flow", "syntax", BASE_YAML.replace("hidden: [8]", "hidden: [8"))
_yaml("yaml_top_level_list", "syntax", "- study\n- data\n")
_yaml("yaml_top_level_scalar", "syntax", "just a string\n")
_text("toml_bom", "syntax", "error", "\ufeff" + BASE)
_yaml("yaml_duplicate_key", "syntax", BASE_YAML.replace("  repeats: 1", "  repeats: 1\n  repeats: 3"))
_yaml("yaml_duplicate_section", "syntax", BASE_YAML + "train:\n  epochs: 2\n")
_yaml("yaml_merge_key_override", "syntax", BASE_YAML.replace(
    "train:\n  optimizer: adam", "train:\n  <<: {optimizer: sgd}\n  optimizer: adam"), "ok")
# --- YAML tags and aliases -------------------------------------------------------------------
_yaml("yaml_python_object_apply", "yaml-tags",
      BASE_YAML.replace("name: case", "name: !!python/object/apply:os.system ['touch pwned']"))
_yaml("yaml_python_name", "yaml-tags", BASE_YAML.replace("name: case", "name: !!python/name:os.system"))
_yaml("yaml_python_tuple", "yaml-tags", BASE_YAML.replace("hidden: [8]", "hidden: !!python/tuple [8]"))
_yaml("yaml_custom_tag", "yaml-tags", BASE_YAML.replace("name: case", "name: !foo case"))
_yaml("yaml_billion_laughs_in_description", "yaml-tags",
      BASE_YAML.replace("  seed: 0", f"  description: {_bomb()}\n  seed: 0"))
_yaml("yaml_billion_laughs_in_params", "yaml-tags",
      BASE_YAML.replace("dataset: digits", f"dataset: synthetic2d\n  params: {{bomb: {_bomb()}}}"))
_yaml("yaml_billion_laughs_in_sweep", "yaml-tags", BASE_YAML + f'sweep:\n  "train.epochs": {_bomb()}\n')
_yaml("yaml_billion_laughs_in_hidden", "yaml-tags", BASE_YAML.replace("hidden: [8]", f"hidden: {_bomb()}"))
_yaml("yaml_billion_laughs_as_key_value", "yaml-tags", BASE_YAML + f"report: {{metrics: {_bomb(7, 10)}}}\n")
_yaml("yaml_recursive_alias", "yaml-tags", BASE_YAML + "report:\n  metrics: &r [*r]\n")
_yaml("yaml_recursive_mapping", "yaml-tags", BASE_YAML + "report: &r\n  top_n: 3\n  inner: *r\n")
_yaml("yaml_alias_small_ok", "yaml-tags", BASE_YAML.replace("hidden: [8]", "hidden: &h [8]")
      + 'sweep:\n  "model.mlp.hidden": [*h, [4]]\n', "ok")
_yaml("yaml_deep_nesting", "yaml-tags", BASE_YAML + "report: {metrics: " + "[" * 200 + "]" * 200 + "}\n")
_yaml("yaml_very_deep_nesting", "yaml-tags", BASE_YAML + "report: {metrics: " + "[" * 5000 + "]" * 5000 + "}\n")
_text("toml_very_deep_nesting", "yaml-tags", "error", BASE + "\n[report]\nmetrics = " + "[" * 5000 + "]" * 5000 + "\n")
# --- file level ------------------------------------------------------------------------------
_text("empty_toml", "file", "error", "")
_yaml("empty_yaml", "file", "")
_text("binary_garbage", "file", "error", bytes(range(256)) * 4)
_text("non_utf8_latin1", "file", "error", BASE.replace("case", "caf\u00e9").encode("latin-1"))
_text("nul_bytes_in_toml", "file", "error", BASE + "\x00\n")


def _directory(folder: Path) -> Path:
    (folder / "a_directory.toml").mkdir()
    return folder / "a_directory.toml"


def _symlink_loop(folder: Path) -> Path:
    os.symlink("loop.toml", folder / "loop.toml")
    return folder / "loop.toml"


def _dangling(folder: Path) -> Path:
    os.symlink("nowhere.toml", folder / "dangling.toml")
    return folder / "dangling.toml"


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "fifo.toml")
    return folder / "fifo.toml"


def _dev_zero(folder: Path) -> Path:
    os.symlink("/dev/zero", folder / "zero.toml")
    return folder / "zero.toml"


def _huge_sparse(folder: Path) -> Path:
    p = folder / "huge_nul.toml"
    with open(p, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: 2 GB that take no disk
    return p


def _huge_comments(folder: Path) -> Path:
    p = folder / "huge_comments.toml"
    line = "# " + "x" * 1021 + "\n"
    p.write_text(BASE + line * (11 * 1024))  # 11 MB
    return p


_special("directory_not_file", "file", _directory)
_special("missing_file", "file", lambda folder: folder / "does_not_exist.toml")
_special("symlink_loop", "file", _symlink_loop)
_special("symlink_dangling", "file", _dangling)
_special("fifo_not_file", "file", _fifo)
_special("huge_2GB_nul_sparse", "file", _huge_sparse)
_special("huge_11MB_comments", "file", _huge_comments)
_special("dev_zero_symlink", "file", _dev_zero)
# --- unknown keys ----------------------------------------------------------------------------
_text("unknown_section", "unknown-key", "error", BASE + "\n[studdy]\nname = 'x'\n")
_add("unknown_key_study", "unknown-key", "study", 'nmae = "x"')
_add("unknown_key_data", "unknown-key", "data", "shuffle_data = true")
_add("unknown_key_task", "unknown-key", "data", "task = { type = 'binary', postive = [0] }")
_add("unknown_key_augment", "unknown-key", "data", "augment = { sigmaa = 1.0 }")
_add("unknown_key_model", "unknown-key", "model", "head = []")
_toml("unknown_key_mlp", "unknown-key", 'activation = "relu" }', 'activaton = "relu" }')
_toml("unknown_key_layer", "unknown-key", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "flatten" }, { type = "dense", unit = 8 }]')
_add("unknown_key_head", "unknown-key", "model", "heads = [{ name = 'output', lossweight = 1.0 }]")
_add("unknown_key_train", "unknown-key", "train", "epoch = 3")
_add("unknown_key_early_stopping", "unknown-key", "train", "early_stopping = { patiense = 2 }")
_text("unknown_key_report", "unknown-key", "error", BASE + "\n[report]\ntopn = 3\n")
_add("unknown_optimizer_param", "unknown-key", "train", "optimizer_params = { momentum = 0.9 }")
_add("unknown_dataset_param", "unknown-key", "data", "params = { n_samples = 10 }")
# --- wrong types and bad values --------------------------------------------------------------
_toml("name_int", "type", 'name = "case"', "name = 123")
_toml("name_empty", "value", 'name = "case"', 'name = ""')
_toml("name_300_chars", "value", 'name = "case"', f'name = "{"n" * 300}"')
_toml("repeats_string", "type", "repeats = 1", 'repeats = "three"')
_toml("repeats_zero", "value", "repeats = 1", "repeats = 0")
_toml("repeats_huge", "value", "repeats = 1", "repeats = 1000000000")
_toml("repeats_bool", "type", "repeats = 1", "repeats = true")
_toml("seed_negative", "value", "seed = 0", "seed = -1")
_toml("seed_int64_max", "value", "seed = 0", "seed = 9223372036854775807")
_toml("seed_int64_max_repeats_2", "value", "seed = 0\nrepeats = 1", "seed = 9223372036854775807\nrepeats = 2")
_toml("seed_2pow32", "value", "seed = 0", "seed = 4294967296")
_toml("seed_2pow32_minus_1", "value", "seed = 0", "seed = 4294967295", "ok")
_toml("seed_last_repeat_overflows", "value", "seed = 0\nrepeats = 1", "seed = 4294967295\nrepeats = 2")
_toml("seed_float", "type", "seed = 0", "seed = 1.5")
_add("data_seed_negative", "value", "data", "seed = -1")
_add("data_seed_huge", "value", "data", "seed = 4294967296")
_toml("epochs_zero", "value", "epochs = 1", "epochs = 0")
_toml("epochs_huge", "value", "epochs = 1", "epochs = 1000000000000")
_toml("epochs_float", "type", "epochs = 1", "epochs = 1.5")
_toml("epochs_bool", "type", "epochs = 1", "epochs = true")
_toml("epochs_float_integral", "type", "epochs = 1", "epochs = 2.0")
_toml("epochs_giant_int", "value", "epochs = 1", "epochs = " + "9" * 4000)
_toml("epochs_int_over_4300_digits", "value", "epochs = 1", "epochs = " + "9" * 5000)
_toml("batch_size_zero", "value", "batch_size = 32", "batch_size = 0")
_toml("batch_size_negative", "value", "batch_size = 32", "batch_size = -5")
_toml("batch_size_string", "type", "batch_size = 32", 'batch_size = "half"')
_toml("batch_size_bool", "type", "batch_size = 32", "batch_size = true")
_toml("batch_size_larger_than_data", "value", "batch_size = 32", "batch_size = 100000", "ok")
_toml("batch_size_full", "value", "batch_size = 32", 'batch_size = "full"', "ok")
_toml("lr_negative", "value", "learning_rate = 0.001", "learning_rate = -0.1")
_toml("lr_zero", "value", "learning_rate = 0.001", "learning_rate = 0")
_toml("lr_string", "type", "learning_rate = 0.001", 'learning_rate = "fast"')
_toml("lr_inf", "value", "learning_rate = 0.001", "learning_rate = inf")
_toml("lr_nan", "value", "learning_rate = 0.001", "learning_rate = nan")
_toml("lr_bool", "type", "learning_rate = 0.001", "learning_rate = true")
_toml("lr_int", "value", "learning_rate = 0.001", "learning_rate = 1", "ok")
_toml("lr_1e400", "value", "learning_rate = 0.001", "learning_rate = 1e400")
_yaml("yaml_lr_inf", "value", BASE_YAML.replace("learning_rate: 0.001", "learning_rate: .inf"))
_toml("optimizer_param_inf", "value", 'optimizer = "adam"', 'optimizer = { name = "adam", beta_1 = inf }')
_toml("validation_split_1", "value", "validation_split = 0.2", "validation_split = 1.0")
_toml("validation_split_0", "value", "validation_split = 0.2", "validation_split = 0.0")
_toml("validation_split_nan", "value", "validation_split = 0.2", "validation_split = nan")
_toml("validation_split_0_9999", "value", "validation_split = 0.2", "validation_split = 0.9999")
_toml("validation_size_all", "value", "validation_split = 0.2", "validation_size = 5000")
_add("test_size_1", "value", "data", "test_size = 1.0")
_add("subsample_zero", "value", "data", "subsample = 0")
_add("subsample_huge", "value", "data", "subsample = 1000000000")
_add("subsample_bool", "type", "data", "subsample = true")
_add("subsample_5", "value", "data", "subsample = 20", "ok")
_add("augment_fraction_negative", "value", "data", "augment = { fraction = -1.0 }")
_add("augment_sigma_inf", "value", "data", "augment = { sigma = inf }")
_add("permute_pixels_int", "type", "data", "permute_pixels = 1")
_toml("hidden_units_zero", "value", "hidden = [8]", "hidden = [0]")
_toml("hidden_units_negative", "value", "hidden = [8]", "hidden = [-3]")
_toml("hidden_string", "type", "hidden = [8]", 'hidden = "64"')
_toml("hidden_bool", "type", "hidden = [8]", "hidden = [true]")
_toml("hidden_huge_width", "value", "hidden = [8]", "hidden = [10000000000]")
_toml("hidden_absurd_width", "value", "hidden = [8]", "hidden = [" + "9" * 40 + "]")
_toml("hidden_two_huge_layers", "value", "hidden = [8]", "hidden = [1000000, 1000000]")
_toml("dropout_one", "value", 'activation = "relu" }', 'activation = "relu", dropout = 1.0 }')
_toml("dropout_nan", "value", 'activation = "relu" }', 'activation = "relu", dropout = nan }')
_toml("depth_negative", "value", "hidden = [8]", "units = 8, depth = -1")
_toml("depth_bool", "type", "hidden = [8]", "units = 8, depth = true")
_toml("batch_norm_int", "type", 'activation = "relu" }', 'activation = "relu", batch_norm = 1 }')
_toml("dense_units_zero", "value", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "flatten" }, { type = "dense", units = 0 }]')
_toml("dense_units_huge", "value", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "flatten" }, { type = "dense", units = 100000000000000000000 }, { type = "dense", units = 10 }]')
_toml("dropout_layer_rate_1_5", "value", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "flatten" }, { type = "dropout", rate = 1.5 }]')
_toml("layers_and_mlp", "value", "[model]\n", '[model]\nlayers = [{ type = "flatten" }]\n')
_toml("model_empty", "value", 'mlp = { hidden = [8], activation = "relu" }', "")
_toml("layers_empty_list", "value", 'mlp = { hidden = [8], activation = "relu" }', "layers = []")
_toml("metrics_string", "type", 'metrics = ["accuracy"]', 'metrics = "accuracy"')
_toml("metrics_empty", "value", 'metrics = ["accuracy"]', "metrics = []", "ok")
_toml("missing_study_section", "missing", '[study]\nname = "case"\nseed = 0\nrepeats = 1\n', "")
_toml("missing_dataset", "missing", 'dataset = "digits"', "")
_text("section_is_scalar", "type", "error", "study = 3\n" + BASE.split("\n", 5)[5])
_add("cross_validation_1", "value", "train", "cross_validation = 1")
_add("cross_validation_bool", "type", "train", "cross_validation = true")
_add("eval_batch_size_zero", "value", "train", "eval_batch_size = 0")
_add("shuffle_string", "type", "train", 'shuffle = "yes"')
_add("early_stopping_patience_bool", "type", "train", "early_stopping = { patience = true }")
_text("report_top_n_bool", "type", "error", BASE + "\n[report]\ntop_n = true\n")
_add("max_trials_zero", "value", "study", "max_trials = 0")
# --- unknown names ---------------------------------------------------------------------------
_toml("unknown_activation", "name", 'activation = "relu"', 'activation = "rleu"')
_toml("unknown_optimizer", "name", 'optimizer = "adam"', 'optimizer = "adamw2"')
_toml("unknown_initializer", "name", 'activation = "relu" }',
      'activation = "relu", kernel_initializer = "glorot_uniformm" }')
_add("unknown_loss", "name", "train", 'loss = "crossentropy"')
_toml("unknown_metric", "name", 'metrics = ["accuracy"]', 'metrics = ["acuracy"]')
_toml("unknown_dataset", "name", 'dataset = "digits"', 'dataset = "mnits"')
_toml("unknown_layer_type", "name", 'mlp = { hidden = [8], activation = "relu" }', 'layers = [{ type = "dense2" }]')
_toml("unknown_output_activation", "name", 'activation = "relu" }', 'activation = "relu", output_activation = "softmaxx" }')
_add("unknown_monitor", "name", "train", "early_stopping = { monitor = 'val_acuracy' }")
_text("unknown_report_analysis", "name", "error", BASE + "\n[report]\nanalyses = ['nonexistent']\n")
_add("unknown_task_type", "name", "data", "task = { type = 'multilabel' }")
_add("unknown_normalize", "name", "data", "normalize = 'zscore'")
_toml("unknown_optimizer_in_table", "name", 'optimizer = "adam"', 'optimizer = { name = "sgdd" }')
# --- sweeps ----------------------------------------------------------------------------------
_sweep = BASE + "\n[sweep]\n"
_text("sweep_empty_list", "sweep", "error", _sweep + '"train.batch_size" = []\n')
_text("sweep_scalar", "sweep", "error", _sweep + '"train.batch_size" = 32\n')
_text("sweep_nonexistent_path", "sweep", "error", _sweep + '"train.epochz" = [1, 2]\n')
_text("sweep_nonexistent_section", "sweep", "error", _sweep + '"trian.epochs" = [1, 2]\n')
_text("sweep_study_section", "sweep", "error", _sweep + '"study.repeats" = [1, 2]\n')
_text("sweep_no_dot", "sweep", "error", _sweep + '"epochs" = [1, 2]\n')
_text("sweep_into_scalar", "sweep", "error", _sweep + '"train.epochs.value" = [1, 2]\n')
_text("sweep_index_out_of_range", "sweep", "error", _sweep + '"model.layers.5.activation" = ["relu"]\n')
_text("sweep_zip_unequal", "sweep", "error",
      _sweep + '[[sweep.zip]]\n"train.batch_size" = [16, 32]\n"train.epochs" = [1, 2, 3]\n')
_text("sweep_zip_empty_table", "sweep", "error", BASE + "\n[[sweep.zip]]\n")
_text("sweep_zip_scalar", "sweep", "error", BASE + "\n[sweep]\nzip = 3\n")
_text("sweep_zip_nonexistent_path", "sweep", "error", _sweep + '[[sweep.zip]]\n"train.nope" = [1, 2]\n')
_text("sweep_bad_value", "sweep", "error", _sweep + '"train.batch_size" = [32, 0]\n')
_text("sweep_duplicate_values", "sweep", "error", _sweep + '"train.epochs" = [1, 1]\n')
# --- search: [search] and [sweep] distributions (issue 13) ------------------------------------
_search = _sweep.replace("[sweep]", '[search]\nstrategy = "tpe"\nn_trials = 10\n\n[sweep]')
_text("search_ok", "search", "ok", _search + '"train.learning_rate" = { loguniform = [1e-4, 1e-1] }\n'
      '"model.mlp.dropout" = { uniform = [0.0, 0.5] }\n"train.batch_size" = { int = [16, 64], log = true }\n'
      '"train.optimizer" = { choice = ["adam", "sgd"] }\n"model.mlp.activation" = ["relu", "tanh"]\n')
_text("search_grid_with_distribution", "search", "error",
      _sweep + '"train.learning_rate" = { loguniform = [1e-4, 1e-1] }\n')
_text("search_strategy_grid_with_distribution", "search", "error",
      _search.replace('"tpe"', '"grid"') + '"train.learning_rate" = { uniform = [0.1, 0.2] }\n')
_text("search_unknown_strategy", "search", "error", _search.replace('"tpe"', '"bayes"') + '"train.epochs" = [1]\n')
_text("search_zero_trials", "search", "error", _search.replace("n_trials = 10", "n_trials = 0"))
_text("search_loguniform_zero", "search", "error", _search + '"train.learning_rate" = { loguniform = [0, 1e-1] }\n')
_text("search_low_above_high", "search", "error", _search + '"model.mlp.dropout" = { uniform = [0.5, 0.1] }\n')
_text("search_int_float_bounds", "search", "error", _search + '"train.batch_size" = { int = [16, 64.5] }\n')
_text("search_two_kinds", "search", "error",
      _search + '"model.mlp.dropout" = { uniform = [0.0, 0.5], loguniform = [0.1, 0.5] }\n')
_text("search_log_on_uniform", "search", "error", _search + '"model.mlp.dropout" = { uniform = [0.1, 0.5], log = true }\n')
_text("search_unknown_kind", "search", "error", _search + '"model.mlp.dropout" = { normal = [0.0, 0.5] }\n')
_text("search_empty_choice", "search", "error", _search + '"train.optimizer" = { choice = [] }\n')
_text("search_bad_choice_value", "search", "error", _search + '"train.optimizer" = { choice = ["adam", "adamm"] }\n')
_text("search_bound_out_of_field_range", "search", "error", _search + '"model.mlp.dropout" = { uniform = [0.0, 1.5] }\n')
_text("search_zip", "search", "error", _search + '[[sweep.zip]]\n"train.epochs" = [1, 2]\n')
_text("search_unknown_metric", "search", "error",
      _search.replace("n_trials = 10", 'n_trials = 10\nmetric = "val_acuracy"') + '"train.epochs" = [1, 2]\n')
_text("search_too_many_trials", "search", "error",
      _search.replace("n_trials = 10", "n_trials = 200000") + '"train.epochs" = [1, 2]\n')
_text("search_pruner_on_grid", "search", "error",
      _search.replace('"tpe"', '"grid"').replace("n_trials = 10", 'pruner = "median"') + '"train.epochs" = [1, 2]\n')
_text("search_unknown_pruner", "search", "error",
      _search.replace("n_trials = 10", 'pruner = "hyperband"') + '"train.epochs" = [1, 2]\n')
_text("search_cmaes_choice", "search", "error",
      _search.replace('"tpe"', '"cmaes"') + '"train.learning_rate" = { loguniform = [1e-4, 1e-1] }\n'
      '"train.optimizer" = ["adam", "sgd"]\n')
_GRID_1E8 = {  # 8 axes x 10 values = 10^8 configurations
    "train.epochs": range(1, 11), "train.batch_size": range(1, 11), "train.eval_batch_size": range(1, 11),
    "data.subsample": range(100, 110), "data.seed": range(10), "model.mlp.hidden": [[i] for i in range(1, 11)],
    "train.learning_rate": [0.001 * i for i in range(1, 11)],
    "train.optimizer_params.beta_1": [0.9 + i / 100 for i in range(10)],
}
_text("sweep_huge_grid_1e8", "sweep", "error",
      _sweep + "".join(f'"{k}" = {list(v)}\n' for k, v in _GRID_1E8.items()))
_text("sweep_grid_over_max_trials_cv", "sweep", "error", BASE.replace("[study]\n", "[study]\nmax_trials = 50\n")
      + '\n[sweep]\n"train.epochs" = [1, 2, 3, 4, 5]\n"train.cross_validation" = [5, 10]\n')
_text("sweep_zip_unknown_key_in_value", "sweep", "error",
      _sweep + '[[sweep.zip]]\n"train.optimizer" = [{ name = "sgd", momentom = 0.9 }]\n')
_text("sweep_bool_epochs", "sweep", "error", _sweep + '"train.epochs" = [1, true]\n')
_text("sweep_ok", "sweep", "ok", _sweep + '"train.epochs" = [1, 2]\n"train.learning_rate" = [0.01, 0.1]\n')
# --- contradictions (found at plan time) -----------------------------------------------------
_add("binary_ce_on_10_classes", "contradiction", "train", 'loss = "binary_crossentropy"')
_toml("conv2d_on_tabular_2d", "contradiction", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "conv2d", filters = 4, kernel_size = 3 }]', base=SYNTH)
_toml("maxpool_on_tabular_2d", "contradiction", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "max_pooling2d" }]', base=SYNTH)
_toml("output_units_1_for_10_classes", "contradiction", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "flatten" }, { type = "dense", units = 1 }]')
_toml("kernel_larger_than_image", "contradiction", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "conv2d", filters = 4, kernel_size = 20 }]')
_toml("pool_larger_than_image", "contradiction", 'mlp = { hidden = [8], activation = "relu" }',
      'layers = [{ type = "max_pooling2d", pool_size = 16 }]')
_add("binary_positive_out_of_range", "contradiction", "data", "task = { type = 'binary', positive = [11] }")
_add("binary_positive_empty", "contradiction", "data", "task = { type = 'binary', positive = [] }")
_add("regression_with_accuracy", "contradiction", "data", "task = 'regression'", "ok")
_toml("monitor_val_without_validation", "contradiction", "validation_split = 0.2",
      "", base=BASE.replace("[train]\n", "[train]\nearly_stopping = { monitor = 'val_loss' }\n"))
_add("validation_split_and_size", "contradiction", "data", "validation_size = 100")
_add("heads_on_single_target", "contradiction", "model", "heads = [{ name = 'hour' }]")
_add("multihead_task_on_digits", "contradiction", "data", "task = 'multihead'")
_toml("sigmoid_output_with_sparse_cce", "contradiction", 'activation = "relu" }',
      'activation = "relu", output_activation = "sigmoid" }', "ok")
_add("cross_validation_more_folds_than_samples", "contradiction", "train", "cross_validation = 50",
     base=BASE.replace("validation_split = 0.2", "subsample = 20"))
_add("cross_validation_more_folds_than_class", "contradiction", "train", "cross_validation = 10",
     base=BASE.replace("validation_split = 0.2", "subsample = 30"))
_add("cross_validation_ok", "contradiction", "train", "cross_validation = 3", "ok",
     base=BASE.replace("validation_split = 0.2", "subsample = 100"))
_add("mse_loss_on_classes", "contradiction", "train", 'loss = "mse"', "ok")
_toml("synthetic_n_samples_huge", "value", "n_samples = 200", "n_samples = 1000000000000", base=SYNTH)
_toml("synthetic_n_samples_float_huge", "value", "n_samples = 200", "n_samples = 1e300", base=SYNTH)
_toml("synthetic_noise_inf", "value", "n_samples = 200", "n_samples = 200, noise = inf", base=SYNTH)
_toml("synthetic_seed_huge", "value", "n_samples = 200", "n_samples = 200, seed = 100000000000000000000",
      base=SYNTH)
_toml("synthetic_ok", "value", "n_samples = 200", "n_samples = 200, seed = 3", "ok", base=SYNTH)


def check_in_process(path: Path | str) -> tuple[str, str]:
    """``sweeplab check`` without a subprocess: ("ok", summary) or ("error", one-line message).

    Any exception other than a sweeplab error propagates (a bug), as in the CLI.
    """
    from sweeplab.engine.run import plan
    from sweeplab.errors import SweeplabError
    from sweeplab.spec.errors import StudyError
    from sweeplab.spec.expand import load_study

    try:
        study = load_study(path)
    except StudyError as e:
        return "error", str(e)
    try:
        groups = plan(study)
    except SweeplabError as e:
        return "error", f"{study.source}: {e}"
    return "ok", f"{len(study.trials)} trials in {len(groups)} group(s)"


if __name__ == "__main__":  # tally every case: python tests/bad_studies.py FOLDER
    import sys
    import tempfile

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    tally: dict[str, int] = {}
    for name, (category, expected, make) in CASES.items():
        case_dir = folder / name
        case_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            outcome, msg = check_in_process(make(case_dir))
        except Exception as e:  # noqa: BLE001 - counted as a failure
            outcome, msg = "CRASH", f"{type(e).__name__}: {str(e)[:200]}"
        dt = time.perf_counter() - t0
        clean = outcome == "ok" or ("\n" not in msg and len(msg) <= 1000)
        verdict = "as expected" if outcome == expected and clean else "UNEXPECTED"
        tally[verdict] = tally.get(verdict, 0) + 1
        print(f"{name:42s} {category:13s} {outcome:6s} {dt:6.2f}s {verdict:11s} {msg[:150]}")
    print(tally, "of", len(CASES))
