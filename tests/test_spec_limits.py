"""Limits on study files and data files: every bad input is one line, found before it costs much.

After the reliability review (defects D5, D7, D10, D11): YAML alias bombs, duplicate keys,
huge or non-regular study files, huge grids, models that cannot fit memory, non-finite
numbers, bools as ints, out-of-range seeds, too many folds, gzip bombs.
"""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bad_studies import BASE, BASE_YAML, CASES, check_in_process
from sweeplab.data.formats import FormatError, read_idx
from sweeplab.engine.run import plan
from sweeplab.spec.errors import StudyError, short_repr
from sweeplab.spec.expand import load_study, study_from_text


def _bomb(levels: int, width: int = 10) -> str:
    """A YAML flow list whose last item expands to width**levels strings."""
    parts = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    parts += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def _error(text: str, source: str = "s.toml") -> str:
    with pytest.raises(StudyError) as e:
        study_from_text(text, source)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= 1000
    return msg


# --- YAML ------------------------------------------------------------------------------------
BOMB_SITES = {
    "description": lambda b: BASE_YAML.replace("  seed: 0", f"  description: {b}\n  seed: 0"),
    "sweep": lambda b: BASE_YAML + f'sweep:\n  "train.epochs": {b}\n',
    "params": lambda b: BASE_YAML.replace("dataset: digits", f"dataset: synthetic2d\n  params: {{x: {b}}}"),
    "hidden": lambda b: BASE_YAML.replace("hidden: [8]", f"hidden: {b}"),
}


@pytest.mark.parametrize("site", BOMB_SITES)
def test_yaml_alias_bomb_is_refused_by_counting_values(site):
    # 10**6 strings once the aliases are written out, from a 300-byte document.
    msg = _error(BOMB_SITES[site](_bomb(6)), "s.yaml")
    assert "more than 200,000 values" in msg and "alias" in msg


def test_billion_laughs_is_refused_in_check(tmp_path):
    p = tmp_path / "laughs.yaml"
    p.write_text(BOMB_SITES["description"](_bomb(9)))  # 10**9 strings
    outcome, msg = check_in_process(p)
    assert outcome == "error" and "more than 200,000 values" in msg


def test_small_yaml_aliases_are_fine():
    text = BASE_YAML.replace("hidden: [8]", "hidden: &h [8]") + 'sweep:\n  "model.mlp.hidden": [*h, [4]]\n'
    assert len(study_from_text(text, "s.yaml").trials) == 2


def test_recursive_yaml_alias_is_refused():
    msg = _error(BASE_YAML + "report:\n  metrics: &r [*r]\n", "s.yaml")
    assert "nested more than 40 levels" in msg


def test_yaml_duplicate_key_names_the_key_and_lines():
    msg = _error(BASE_YAML.replace("  repeats: 1", "  repeats: 1\n  repeats: 3"), "s.yaml")
    assert "duplicate key 'repeats' (first given at line 4) (at line 5" in msg


def test_yaml_merge_key_may_be_overridden():
    text = BASE_YAML.replace("train:\n  optimizer: adam", "train:\n  <<: {optimizer: sgd}\n  optimizer: adam")
    assert study_from_text(text, "s.yaml").spec.train.optimizer == "adam"


# --- the study file itself -------------------------------------------------------------------
def test_study_file_over_10_mb_is_refused_with_its_size(tmp_path):
    p = tmp_path / "big.toml"
    p.write_text(BASE + ("# " + "x" * 1021 + "\n") * (11 * 1024))  # a valid study, 11 MB of comments
    with pytest.raises(StudyError, match=r"big.toml: 11.0 MB is larger than the 10.0 MB limit"):
        load_study(p)


def test_huge_sparse_file_is_refused_without_reading_it(tmp_path):
    p = tmp_path / "huge.toml"
    with open(p, "wb") as f:
        f.truncate(64 * 1024**3)  # 64 GB, sparse: reading it would exhaust memory
    with pytest.raises(StudyError, match=r"64.0 GB is larger than the 10.0 MB limit"):
        load_study(p)


@pytest.mark.parametrize("kind, expected", [
    ("directory", "a directory, not a study file"),
    ("fifo", "a FIFO (named pipe), not a study file"),
    ("dev_zero", "a character device, not a study file"),
    ("dangling", "a symbolic link to a missing file"),
    ("loop", "a symbolic link loop"),
])
def test_non_regular_study_file_is_named_precisely(tmp_path, kind, expected):
    p = tmp_path / "s.toml"
    if kind == "directory":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "dev_zero":
        os.symlink("/dev/zero", p)
    elif kind == "dangling":
        os.symlink(tmp_path / "nowhere.toml", p)
    else:
        os.symlink(p, p)
    with pytest.raises(StudyError) as e:
        load_study(p)
    assert str(e.value) == f"{p}: {expected}" or str(e.value).startswith(f"{p}: {expected}")


def test_builtin_name_still_wins_over_a_directory_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart").mkdir()
    assert load_study("quickstart").name == "quickstart"


# --- trial count -----------------------------------------------------------------------------
GRID_1E8 = BASE + "\n[sweep]\n" + "".join(
    f'"{k}" = {v}\n' for k, v in {
        "train.epochs": list(range(1, 11)), "train.batch_size": list(range(1, 11)),
        "train.eval_batch_size": list(range(1, 11)), "data.subsample": list(range(100, 110)),
        "data.seed": list(range(10)), "model.mlp.hidden": [[i] for i in range(1, 11)],
        "train.learning_rate": [0.001 * i for i in range(1, 11)],
        "train.optimizer_params.beta_1": [0.9 + i / 100 for i in range(10)]}.items())


def test_a_1e8_grid_is_refused_before_it_is_built():
    msg = _error(GRID_1E8)
    assert "the sweep has 100,000,000 trials" in msg and "study.max_trials = 100,000" in msg
    assert "random search" in msg and "issue 13" in msg


def test_max_trials_counts_repeats_and_folds():
    text = BASE.replace("repeats = 1", "repeats = 2\nmax_trials = 23").replace(
        "[train]\n", "[train]\ncross_validation = 3\n") + '\n[sweep]\n"train.epochs" = [1, 2, 3, 4]\n'
    msg = _error(text)
    assert "24 trials (4 configuration(s) x 2 repeat(s) x 3 folds), more than study.max_trials = 23" in msg
    ok = study_from_text(text.replace("max_trials = 23", "max_trials = 24"), "s.toml")
    assert len(ok.trials) == 24


def test_swept_folds_count_at_their_largest():
    text = BASE.replace("[study]\n", "[study]\nmax_trials = 19\n") + \
        '\n[sweep]\n"train.cross_validation" = [2, 10]\n"train.epochs" = [1, 2]\n'
    assert "the sweep has 40 trials" in _error(text)


# --- memory ----------------------------------------------------------------------------------
def test_a_model_that_cannot_fit_memory_is_refused_at_plan_time():
    s = study_from_text(BASE.replace("hidden = [8]", "hidden = [10000000000]"), "s.toml")
    with pytest.raises(ValueError) as e:
        plan(s)
    msg = str(e.value)
    assert msg.startswith("model: one trial needs about ") and " TB (" in msg
    assert "memory budget" in msg and "GB" in msg.split("more than the")[1]


def test_absurd_widths_are_refused_before_any_shape_arithmetic():
    msg = _error(BASE.replace("hidden = [8]", "hidden = [" + "9" * 40 + "]"))
    assert "field 'model.mlp.hidden[0]': a hidden layer size must be at most 1e+12" in msg
    assert "<an integer of about 40 digits>" in msg
    msg = _error(BASE.replace('mlp = { hidden = [8], activation = "relu" }',
                              'layers = [{ type = "flatten" }, { type = "dense", units = 100000000000000000000 }]'))
    assert "field 'model.layers[1].units': must be at most 1e+12" in msg


# --- validation gaps -------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, expected", [
    ("learning_rate = 0.001", "learning_rate = inf", "'train.learning_rate': must be a finite number (got inf)"),
    ("learning_rate = 0.001", "learning_rate = nan", "'train.learning_rate': must be a finite number (got nan)"),
    ("learning_rate = 0.001", "learning_rate = true", "'train.learning_rate': must be a valid number (got True)"),
    ("validation_split = 0.2", "validation_split = nan", "'data.validation_split': must be a finite number"),
    ("epochs = 1", "epochs = true", "'train.epochs': must be a valid integer (got True)"),
    ("repeats = 1", "repeats = false", "'study.repeats': must be a valid integer (got False)"),
    ("hidden = [8]", "hidden = [true]", "'model.mlp.hidden[0]': must be a valid integer (got True)"),
    ("batch_size = 32", "batch_size = true", "'train.batch_size': must be a positive integer"),
    ("seed = 0", "seed = 4294967296", "'study.seed': must be less than or equal to 4294967295"),
    ("seed = 0", "seed = 9223372036854775807", "'study.seed': must be less than or equal to 4294967295"),
    ("seed = 0\nrepeats = 1", "seed = 4294967295\nrepeats = 2", "seed + repeats - 1 = 4294967296 exceeds"),
    ("validation_split = 0.2", "validation_split = 0.2\nseed = -1", "'data.seed': must be greater than or equal"),
    ("validation_split = 0.2", "validation_split = 0.2\nseed = 4294967296", "'data.seed': must be less than"),
    ("validation_split = 0.2", "validation_split = 0.2\npermute_pixels = 1", "'data.permute_pixels': must be a"
                                                                              " valid boolean (got 1)"),
    ('dataset = "digits"', 'dataset = "synthetic2d"\nparams = { noise = inf }',
     "'data.params.noise': The 'noise' parameter of synthetic2d must be a finite number. Got inf instead."),
])
def test_validation_gaps_are_closed(old, new, expected):
    assert expected in _error(BASE.replace(old, new))


def test_largest_seed_is_accepted():
    s = study_from_text(BASE.replace("seed = 0", "seed = 4294967295"), "s.toml")
    assert s.trials[0].seed == 2**32 - 1


@pytest.mark.parametrize("subsample, folds, expected", [
    (20, 50, "50 folds but only 20 training samples; accepted: 2..20"),
    (30, 10, "10 stratified folds but class "),
])
def test_too_many_folds_are_refused_at_plan_time(subsample, folds, expected):
    text = BASE.replace("validation_split = 0.2", f"subsample = {subsample}").replace(
        "[train]\n", f"[train]\ncross_validation = {folds}\n")
    s = study_from_text(text, "s.toml")
    with pytest.raises(ValueError, match="field 'train.cross_validation': " + expected):
        plan(s)


# --- messages stay short ---------------------------------------------------------------------
def test_short_repr_is_bounded_whatever_the_value():
    shared = ["x" * 10**6]
    for _ in range(30):
        shared = [shared] * 10  # 10**30 leaves if written out
    for value in (shared, "y" * 10**7, 10**4000, {"k" * 10**6: 1}, b"z" * 10**6):
        assert len(short_repr(value)) <= 120


def test_a_huge_bad_value_is_shown_cut_short():
    msg = _error(BASE.replace('name = "case"', f'name = "case"\ndescription = {list(range(50000))}'))
    assert "field 'study.description': must be a valid string (got [0, 1, 2, 3, 4, 5, ...])" in msg


# --- gzip bombs ------------------------------------------------------------------------------
def _gzip_bomb(path: Path, header: bytes, zeros: int = 200 * 1024**2) -> Path:
    """A gzip of a valid-looking IDX header and then ``zeros`` zero bytes, streamed (~200 kB on disk)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    chunk = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(z.compress(header))
        for _ in range(zeros // len(chunk)):
            f.write(z.compress(chunk))
        f.write(z.flush())
    return path


def _idx_header(*dims: int) -> bytes:
    return bytes([0, 0, 8, len(dims)]) + np.asarray(dims, ">u4").tobytes()


def test_gzip_bomb_is_refused_at_the_size_its_idx_header_gives(tmp_path):
    p = _gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", _idx_header(10, 28, 28))
    assert p.stat().st_size < 1024**2
    with pytest.raises(FormatError, match=r"IDX header says shape \(10, 28, 28\) \(7,856 bytes\) but the file "
                                          r"decompresses to more"):
        read_idx(p)


def test_idx_header_claiming_more_than_the_cap_is_refused(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_idx_header(100000, 10000, 10000)))
    with pytest.raises(FormatError, match="more than the 2,147,483,648 bytes accepted"):
        read_idx(p)


def test_gzip_bomb_in_a_data_folder_is_one_line_from_the_loader(tmp_path):
    from sweeplab.data.loaders import load_mnist_like

    real = Path(os.environ.get("SWEEPLAB_DATA", "/nonexistent")) / "mnist"
    if not (real / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("needs the MNIST files (SWEEPLAB_DATA)")
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real / name, folder / name)
    _gzip_bomb(folder / "train-images-idx3-ubyte.gz", _idx_header(60000, 28, 28), zeros=100 * 1024**2)
    with pytest.raises(FormatError) as e:
        load_mnist_like("mnist", root=tmp_path, download=False)
    assert "train-images-idx3-ubyte.gz: IDX header says shape (60000, 28, 28) (47,040,016 bytes) but the file " \
           "decompresses to more" in str(e.value)
    assert "\n" not in str(e.value)


def test_intact_gzipped_idx_still_reads(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(_idx_header(2, 3, 4) + x.tobytes()))
    np.testing.assert_array_equal(read_idx(p), x)


# --- the review's bad files through the CLI --------------------------------------------------
CORPUS = [
    # defects of the review
    "yaml_duplicate_key", "yaml_billion_laughs_in_description", "yaml_billion_laughs_in_sweep",
    "huge_2GB_nul_sparse", "huge_11MB_comments", "seed_int64_max_repeats_2", "seed_2pow32", "data_seed_negative",
    "epochs_bool", "lr_inf", "hidden_huge_width", "sweep_huge_grid_1e8",
    "cross_validation_more_folds_than_samples", "directory_not_file", "fifo_not_file", "dev_zero_symlink",
    "symlink_loop",
    # new in this corpus
    "yaml_billion_laughs_in_params", "yaml_billion_laughs_in_hidden", "yaml_recursive_mapping",
    "yaml_very_deep_nesting", "toml_very_deep_nesting", "epochs_int_over_4300_digits", "hidden_absurd_width",
    "dense_units_huge", "cross_validation_more_folds_than_class", "sweep_grid_over_max_trials_cv",
    "synthetic_n_samples_huge", "synthetic_noise_inf", "lr_bool", "dropout_nan",
    # a sample of those the review found fine
    "toml_missing_eq", "toml_duplicate_key", "yaml_python_object_apply", "yaml_recursive_alias",
    "binary_garbage", "missing_file", "unknown_key_mlp", "repeats_huge", "lr_nan", "validation_size_all",
    "unknown_optimizer", "sweep_zip_unequal", "binary_ce_on_10_classes", "multihead_task_on_digits",
    # valid studies among them
    "seed_2pow32_minus_1", "yaml_alias_small_ok", "yaml_merge_key_override", "sweep_ok", "cross_validation_ok",
]


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.mark.parametrize("name", CORPUS)
def test_bad_study_gives_one_line_and_exit_2(name, tmp_path, runner, monkeypatch):
    from sweeplab.cli import app

    category, expected, make = CASES[name]
    monkeypatch.chdir(tmp_path)
    path = make(tmp_path)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    if expected == "ok":
        assert result.exit_code == 0, result.stderr
        assert ": ok — study 'case'" in " ".join(result.stdout.split())
        return
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert len(lines[0]) <= 1100
    assert not (tmp_path / "runs").exists()
