"""Trained models out of a run: run.model()/models()/ensemble(), raw vs prepared inputs,
datasets.load(raw=True), image preprocessing and ``sweeplab predict`` (issue 11).

Fast: scikit-learn's bundled 8x8 digits (offline), with a pixel permutation and
standardisation so that every preprocessing step has to be right.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import sweeplab
from sweeplab.data import DataSpec, prepare
from sweeplab.spec.expand import study_from_text
from sweeplab.trained import ModelInputError

STUDY = """
[study]
name = "models-out"
seed = 5
repeats = 2

[data]
dataset = "digits"
validation_split = 0.2
normalize = "standardize"
permute_pixels = true

[model]
mlp = { hidden = [32], activation = "relu" }

[train]
optimizer = "adam"
learning_rate = 0.01
batch_size = 32
epochs = 4
metrics = ["accuracy", "f1"]

[sweep]
"model.mlp.activation" = ["relu", "tanh"]
"""

SWEEPLAB = [sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models-out") / "run"
    sweeplab.run(study_from_text(STUDY), d)
    return d


@pytest.fixture(scope="module")
def run(run_dir):
    return sweeplab.load(run_dir)


def test_default_model_is_the_first_seed_of_the_best_configuration(run):
    model = run.model()
    assert model.trial_id == run.best_trials[0]
    assert model.config == run.best_config
    assert [m.trial_id for m in run.models()] == run.best_trials and len(run.best_trials) == 2
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "preprocessing: fixed pixel permutation, then (x - " in text and "dense (Dense)" in text


def test_predictions_equal_the_stored_test_predictions_of_each_trial(run):
    for tid in run.data.trials.index:  # the best and the others
        model = run.model(tid)
        x, y = model.test_data()  # raw uint8, original pixel order
        stored = run.data.predictions(tid)
        np.testing.assert_array_equal(y, stored["y_true/output"])
        np.testing.assert_allclose(model.predict(x), stored["proba/output"], atol=1e-5)
        np.testing.assert_array_equal(model.predict_classes(x), stored["y_pred/output"])


def test_raw_integer_and_prepared_float_inputs_give_the_same_result(run):
    model = run.model()
    x, _ = model.test_data()
    assert x.dtype == np.uint8 and x.max() <= 16
    prepared, _ = model.test_data(raw=False)
    spec = DataSpec.model_validate(model.config["data"])
    # the model's preprocessing is the pipeline's own (permutation and statistics included)
    np.testing.assert_array_equal(prepared, prepare(spec, seed=5).test.x)
    want = model.predict(x)
    np.testing.assert_array_equal(model.predict(prepared), want)
    np.testing.assert_array_equal(model.predict(x[..., 0]), want)  # (n, 8, 8), as Keras gives MNIST
    np.testing.assert_array_equal(model.predict(x.reshape(len(x), -1)), want)  # flat (n, 64)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64), raw=True), want)
    np.testing.assert_array_equal(model.predict(x.astype(np.int64)), want)
    # the same floats without raw=True are taken as prepared inputs (a different answer), with a warning
    from sweeplab.trained import RawLookingInputWarning

    with pytest.warns(RawLookingInputWarning, match=r"x: float values 0..16 are taken as prepared inputs"):
        assert not np.allclose(model.predict(x.astype(np.float32)), want)


@pytest.mark.parametrize("bad, expected", [
    (lambda x: x[0], "x: shape (8, 8, 1): expected (n, 8, 8, 1), (n, 8, 8), (n, 64) for this digits model "
                     "(one example: add a batch axis, x[None])"),
    (lambda x: x[:, :5], "x: shape (359, 5, 8, 1): expected"),
    (lambda x: np.repeat(x, 3, axis=-1), "x: shape (359, 8, 8, 3): expected"),
    (lambda x: x.astype(bool), "x: dtype bool: expected"),
    (lambda x: x.astype(str), "x: dtype <U"),
    (lambda x: x.astype(np.int32) * 16, "x: raw values 0..256: digits stores 0..16"),
    (lambda x: np.where(x > 3, np.nan, 0.0), "x: contains NaN"),
])
def test_inputs_that_cannot_be_right_give_a_one_line_error(run, bad, expected):
    model = run.model()
    x, _ = model.test_data()
    with pytest.raises(ModelInputError) as e:
        model.predict(bad(x))
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith(expected) and "\n" not in str(e.value)


def test_evaluate_gives_keras_names_and_the_stored_test_metrics(run):
    model = run.model()
    x, y = model.test_data()
    got = model.evaluate(x, y)
    assert list(got) == ["loss", "accuracy", "f1"]
    row = run.data.trials.loc[model.trial_id]
    assert got["accuracy"] == pytest.approx(row["test_accuracy"], abs=1e-12)
    assert got["f1"] == pytest.approx(row["test_f1"], abs=1e-12)
    assert got["loss"] == pytest.approx(row["test_loss"], rel=1e-5)
    with pytest.raises(ModelInputError, match="y: 10 targets for 359 inputs"):
        model.evaluate(x, y[:10])


def test_ensemble_averages_the_seeds_probabilities_and_reports_beside_them(run):
    ens = run.ensemble()
    members = run.models()
    x, y = members[0].test_data()
    np.testing.assert_allclose(ens.predict(x), np.mean([m.predict(x) for m in members], axis=0), atol=1e-7)
    table = ens.test_metrics()
    assert list(table.index) == [*run.best_trials, "ensemble"]
    assert table.loc["ensemble", "accuracy"] == pytest.approx((ens.predict_classes(x) == y).mean())
    for tid in run.best_trials:
        assert table.loc[tid, "accuracy"] == pytest.approx(run.data.trials.loc[tid, "test_accuracy"])


def test_unknown_trial_is_a_lookup_error(run):
    with pytest.raises(LookupError, match="no finished trial 'nope'"):
        run.model("nope")


@pytest.mark.parametrize("normalize", ["unit", "standardize", "none"])
def test_feature_table_preprocessing_is_the_pipeline_s(normalize):
    from sweeplab.preprocessing import preprocessing_for, raw_test_split

    config = {"data": {"dataset": "synthetic2d", "normalize": normalize, "params": {"n_samples": 500}}}
    pre = preprocessing_for(config, study_seed=1)
    raw, _ = raw_test_split(config, study_seed=1)
    want = prepare(DataSpec.model_validate(config["data"]), seed=1).test.x
    np.testing.assert_allclose(pre.apply(raw), want, rtol=1e-6, atol=1e-6)


def test_datasets_load_raw_is_keras_s_form():
    (x, y), (xt, yt) = sweeplab.datasets.load("digits", raw=True)
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 16
    assert y.dtype == np.uint8 and xt is None and yt is None
    (xf, _), _ = sweeplab.datasets.load("digits")
    assert xf.shape == (1797, 8, 8, 1) and xf.dtype == np.float32
    np.testing.assert_array_equal(xf[..., 0], x / np.float32(16))


@pytest.mark.skipif(not os.environ.get("SWEEPLAB_DATA"), reason="needs SWEEPLAB_DATA with mnist/")
def test_datasets_load_raw_mnist_has_keras_shapes_and_dtypes():
    from sweeplab.data import is_cached

    if not is_cached("mnist"):
        pytest.skip("no MNIST copy")
    (x, y), (xt, yt) = sweeplab.datasets.load("mnist", raw=True)
    # keras.datasets.mnist.load_data(): uint8 (60000, 28, 28), uint8 (60000,), and 10,000 for test
    assert (x.shape, x.dtype, y.shape, y.dtype) == ((60000, 28, 28), np.uint8, (60000,), np.uint8)
    assert (xt.shape, xt.dtype, yt.shape, yt.dtype) == ((10000, 28, 28), np.uint8, (10000,), np.uint8)


# ------------------------------------------------------------------------ image files
def _stroke_image(path, light=True, size=(300, 420)):
    """A thick vertical bar ("1") off-centre, on paper with a lighting gradient."""
    from PIL import Image, ImageDraw

    h, w = size
    paper = np.linspace(150, 240, w)[None, :].repeat(h, 0) if light else np.full((h, w), 20.0)
    im = Image.fromarray(paper.astype(np.uint8))
    ImageDraw.Draw(im).rectangle([300, 40, 330, 260], fill=30 if light else 230)
    im.convert("RGB").save(path)


@pytest.mark.parametrize("light", [True, False])
def test_mnist_preprocessing_inverts_paper_crops_fits_20x20_and_centres_the_mass(tmp_path, light):
    from sweeplab import imageprep

    _stroke_image(tmp_path / "one.jpg", light)
    prep = imageprep.prepare_file(tmp_path / "one.jpg", "mnist", (28, 28, 1), 255)
    x = prep.x[..., 0].astype(float)
    assert prep.x.dtype == np.uint8 and prep.x.shape == (28, 28, 1)
    ink = x > 64
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert rows[-1] - rows[0] + 1 in (20, 21) and cols[-1] - cols[0] + 1 <= 6  # tall thin bar in a 20 box
    assert x[0].max() == 0 and x[:, 0].max() == 0 and x.max() == 255  # white ink on black
    yy, xx = np.mgrid[0:28, 0:28]
    assert abs((yy * x).sum() / x.sum() - 13.5) <= 1 and abs((xx * x).sum() / x.sum() - 13.5) <= 1


def test_blank_image_is_a_one_line_error(tmp_path):
    from PIL import Image

    from sweeplab import imageprep

    Image.new("L", (50, 40), 200).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(imageprep.ImageError, match="blank.png: no ink found"):
        imageprep.prepare_file(tmp_path / "blank.png", "mnist", (28, 28, 1), 255)
    with pytest.raises(imageprep.ImageError, match="notes.png: cannot read as an image"):
        imageprep.prepare_file(tmp_path / "notes.png", "mnist", (28, 28, 1), 255)


def test_cli_predict_prints_top_classes_and_shows_what_the_network_saw(run, run_dir, tmp_path):
    from PIL import Image

    model = run.model()
    x, y = model.test_data()
    # digits' 8x8 test images enlarged and inverted: dark ink on light paper, 160x160
    for i in range(3):
        big = Image.fromarray((255 - x[i, ..., 0] * 15).astype(np.uint8)).resize((160, 160), Image.Resampling.BICUBIC)
        big.save(tmp_path / f"d{i}.png")
    (tmp_path / "broken.png").write_text("nope")
    show = tmp_path / "seen"
    args = [str(run_dir), *[str(tmp_path / f"d{i}.png") for i in range(3)], str(tmp_path / "broken.png"),
            "--top", "2", "--show", str(show)]
    p = subprocess.run([*SWEEPLAB, "predict", *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr  # one unreadable file
    assert p.stderr.strip().splitlines() == [f"error: {tmp_path / 'broken.png'}: cannot read as an image "
                                             f"(PNG, JPEG, ...): " + p.stderr.split("(PNG, JPEG, ...): ")[1].strip()]
    lines = p.stdout.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["d0.png", "d1.png", "d2.png"]
    for line in lines:
        classes = line.split(": ", 1)[1].split(", ")
        assert len(classes) == 2
        probs = [float(c.split()[1]) for c in classes]
        assert probs == sorted(probs, reverse=True) and 0 <= probs[1] <= probs[0] <= 1
    assert sorted(f.name for f in show.iterdir()) == sorted(
        [f"d{i}.png" for i in range(3)] + [f"d{i}_input.png" for i in range(3)])
    assert Image.open(show / "d0_input.png").size == (8, 8)


def test_cli_predict_usage_errors_are_one_line_exit_2(run_dir, tmp_path):
    p = subprocess.run([*SWEEPLAB, "predict", str(run_dir), "x.png", "--trial", "nope"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.strip() == f"error: {run_dir}: no finished trial 'nope' in this run"


def test_fashion_and_generic_recipes_keep_each_dataset_s_form(tmp_path):
    from PIL import Image, ImageDraw

    from sweeplab import imageprep

    im = Image.new("RGB", (400, 300), (250, 250, 250))
    ImageDraw.Draw(im).rectangle([100, 120, 300, 180], fill=(60, 40, 40))  # a dark "shoe" on white
    im.save(tmp_path / "shoe.png")
    fashion = imageprep.prepare_file(tmp_path / "shoe.png", "fashion-mnist", (28, 28, 1), 255).x[..., 0]
    rows, cols = np.flatnonzero(fashion.max(1) > 0), np.flatnonzero(fashion.max(0) > 0)
    assert cols[-1] - cols[0] + 1 == 28 and rows[-1] - rows[0] + 1 < 12  # longest side 28, aspect kept
    assert fashion[0, 0] == 0 and fashion[14, 14] > 150  # negated: light object on black
    clock = imageprep.prepare_file(tmp_path / "shoe.png", "clocks", (32, 32, 1), 255).x[..., 0]
    assert clock.shape == (32, 32) and clock[0, 0] > 200 and clock[16, 16] < 100  # light face kept light
    svhn = imageprep.prepare_file(tmp_path / "shoe.png", "svhn", (32, 32, 3), 255).x
    assert svhn.shape == (32, 32, 3) and svhn.dtype == np.uint8 and svhn[16, 16, 0] > svhn[16, 16, 2]
    with pytest.raises(imageprep.ImageError, match="the model's data \\(synthetic2d\\) are not images"):
        imageprep.prepare_file(tmp_path / "shoe.png", "synthetic2d", (2,), None)


def test_feature_table_floats_are_raw_by_default(tmp_path):
    text = STUDY.replace('dataset = "digits"', 'dataset = "synthetic2d"\nparams = { n_samples = 400 }').replace(
        "permute_pixels = true\n", "").replace('"model.mlp.activation" = ["relu", "tanh"]', "")
    sweeplab.run(study_from_text(text), tmp_path / "run")
    run = sweeplab.load(tmp_path / "run")
    model = run.model()
    x, _ = model.test_data()
    assert x.dtype == np.float32
    stored = run.data.predictions(model.trial_id)["proba/output"]
    np.testing.assert_allclose(model.predict(x), stored, atol=1e-5)
    np.testing.assert_allclose(model.predict(model.test_data(raw=False)[0], raw=False), stored, atol=1e-5)
