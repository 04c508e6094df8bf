"""``sweeplab export``: Keras 3 ``.keras`` files and plain ``.npz`` (issue 11).

The Keras round trip (Keras on its JAX backend): the file opens with
``keras.saving.load_model``, has sweeplab's layer names and weights, and predicts
what sweeplab predicts to 1e-5 on the whole test set, for an MLP (with a pixel
permutation and standardisation as its first layers), the seed-004 CNN and the
seed-004 two-headed clocks network (tiny trainings of their built-in [model] sections).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

import sweeplab  # noqa: E402
from sweeplab.export import ExportError  # noqa: E402
from sweeplab.spec.expand import builtin_studies, study_from_text  # noqa: E402

SWEEPLAB = [sys.executable, "-c", "import sys; from sweeplab.cli import main; sys.argv[0] = 'sweeplab'; main()"]

MLP = """
[study]
name = "export-mlp"
seed = 2
[data]
dataset = "digits"
normalize = "standardize"
permute_pixels = true
[model]
mlp = { hidden = [32, 16], activation = "tanh", batch_norm = true, dropout = 0.1 }
[train]
optimizer = "adam"
learning_rate = 0.01
epochs = 3
metrics = ["accuracy"]
"""


@pytest.fixture(autouse=True)
def _keras_own_promotion():
    """Keras's layers broadcast implicitly (a bias add of rank 1 onto rank 2); the suite's strict
    promotion (conftest.py) is for sweeplab's code, so Keras calls run under JAX's defaults."""
    import jax

    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield


def _model_section(study_name: str) -> str:
    """The [model] section of a built-in study, verbatim."""
    text = builtin_studies()[study_name].read_text()
    return text[text.index("[model]"):text.index("[train]")]


def _cnn_study() -> str:
    # digits (8x8) rather than MNIST: the same layers, a test set small enough for a fast test
    return ('[study]\nname = "export-cnn"\nseed = 0\n[data]\ndataset = "digits"\nvalidation_split = 0.1\n'
            + _model_section("seed004-cnn-optimizers")
            + '[train]\noptimizer = "rmsprop"\nloss = "categorical_crossentropy"\nmetrics = ["accuracy"]\n'
              'batch_size = 32\nepochs = 1\n')


def _clocks_study() -> str:
    return ('[study]\nname = "export-clocks"\nseed = 0\n[data]\ndataset = "clocks"\n'
            'params = { size = 64, n_images = 200 }\n'
            'task = { type = "multihead", target_scale = 0.016666666666666666 }\nvalidation_split = 0.1\n'
            + _model_section("seed004-clocks")
            + '[train]\noptimizer = "adam"\nbatch_size = 32\nepochs = 1\n')


def _train(tmp_path_factory, name, text):
    d = tmp_path_factory.mktemp(name) / "run"
    sweeplab.run(study_from_text(text), d)
    return sweeplab.load(d).model()


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return _train(tmp_path_factory, "mlp", MLP)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return _train(tmp_path_factory, "cnn", _cnn_study())


@pytest.fixture(scope="module")
def clocks(tmp_path_factory):
    return _train(tmp_path_factory, "clocks", _clocks_study())


def _round_trip(model, path):
    keras = pytest.importorskip("keras")
    from sweeplab.export.keras import save_keras

    save_keras(model, path)
    km = keras.saving.load_model(path)
    x, _ = model.test_data()  # raw uint8: the file's first layers do the preprocessing
    return km, km.predict(x, verbose=0, batch_size=1024), model.predict(x)


def _sweeplab_layer_names(model):
    return [n.name for n in model.network.nodes()]


def test_keras_round_trip_mlp_with_permutation_standardisation_and_batch_norm(mlp, tmp_path):
    km, got, want = _round_trip(mlp, tmp_path / "mlp.keras")
    assert got.shape == want.shape == (len(mlp.test_data()[0]), 10)
    np.testing.assert_allclose(got, want, atol=1e-5)
    names = [layer.name for layer in km.layers]
    assert names[:7] == ["input", "pixels", "pixels_by_channel", "pixel_permutation", "channels_by_pixel",
                         "image", "rescaling"]
    assert names[7:] == _sweeplab_layer_names(mlp)
    params, state = mlp.params
    np.testing.assert_array_equal(km.get_layer("dense").get_weights()[0], params["dense"]["kernel"])
    bn = km.get_layer("batch_normalization").get_weights()
    np.testing.assert_array_equal(bn[2], state["batch_normalization"]["moving_mean"])
    resc = km.get_layer("rescaling")
    assert resc.scale == pytest.approx(mlp.preprocessing.scale) and resc.offset == pytest.approx(mlp.preprocessing.offset)
    # compiled with the model's loss: evaluate after loading gives sweeplab's numbers
    x, y = mlp.test_data()
    ev = km.evaluate(x, y, verbose=0, return_dict=True)
    ours = mlp.evaluate(x, y)
    assert ev["accuracy"] == pytest.approx(ours["accuracy"], abs=1e-6)
    assert ev["loss"] == pytest.approx(ours["loss"], rel=1e-4)


def test_keras_round_trip_seed004_cnn(cnn, tmp_path):
    km, got, want = _round_trip(cnn, tmp_path / "cnn.keras")
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert [layer.name for layer in km.layers] == ["input", "rescaling", *_sweeplab_layer_names(cnn)]
    assert [type(layer).__name__ for layer in km.layers[2:]] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense",
                                                                "Dropout", "Dense"]
    np.testing.assert_array_equal(km.get_layer("conv2d").get_weights()[0], cnn.params[0]["conv2d"]["kernel"])


def test_keras_round_trip_two_headed_clocks_model(clocks, tmp_path):
    km, got, want = _round_trip(clocks, tmp_path / "clocks.keras")
    assert set(got) == set(want) == {"hour", "minute"}
    assert got["hour"].shape[1] == 12 and got["minute"].shape[1] == 1
    for head in want:
        np.testing.assert_allclose(got[head], want[head], atol=1e-5)
    assert {"hour", "minute"} <= {layer.name for layer in km.layers}


def test_npz_is_plain_arrays_and_json_that_numpy_alone_can_run(mlp, tmp_path):
    from sweeplab.export.npz import save_npz

    save_npz(mlp, tmp_path / "m.npz")
    f = np.load(tmp_path / "m.npz")  # allow_pickle=False: no pickle anywhere
    arch = json.loads(str(f["architecture.json"]))
    assert arch["format"] == "sweeplab.model" and arch["version"] == 1 and arch["trial_id"] == mlp.trial_id
    assert arch["raw_input"] == {"max_value": 16, "normalize": "standardize", "pixel_permutation": True}

    # An independent forward pass in NumPy from the file alone.
    def run(layers, x):
        for layer in layers:
            w = [f[k] for k in layer["weights"]]
            a = layer["args"]
            if layer["class"] == "Reshape":
                x = x.reshape((len(x), *a["target_shape"]))
            elif layer["class"] == "Permute":
                x = np.transpose(x, (0, *a["dims"]))
            elif layer["class"] == "Rescaling":
                x = x * np.float32(a["scale"]) + np.float32(a["offset"])
            elif layer["class"] == "Flatten":
                x = x.reshape(len(x), -1)
            elif layer["class"] == "Dense":
                x = x @ w[0] + (w[1] if a["use_bias"] else 0)
                x = {"tanh": np.tanh, "linear": lambda v: v,
                     "softmax": lambda v: np.exp(v - v.max(1, keepdims=True))
                     / np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True)}[a.get("activation", "linear")](x)
            elif layer["class"] == "BatchNormalization":
                gamma, beta, mean, var = w
                x = (x - mean) / np.sqrt(var + a["epsilon"]) * gamma + beta
            elif layer["class"] == "Dropout":
                pass
            else:
                raise AssertionError(layer["class"])
        return x

    x, _ = mlp.test_data()
    h = run(arch["preprocessing"] + arch["trunk"], x.astype(np.float32))
    (head,) = arch["heads"]
    assert head["classes"] == [str(i) for i in range(10)] and head["kind"] == "multiclass"
    np.testing.assert_allclose(run(head["layers"], h), mlp.predict(x), atol=1e-5)


def test_an_activation_keras_lacks_is_a_one_line_export_error(tmp_path_factory):
    text = MLP.replace('activation = "tanh", batch_norm = true, dropout = 0.1', 'activation = "lecun_tanh"')
    model = _train(tmp_path_factory, "lecun", text.replace("epochs = 3", "epochs = 1"))
    from sweeplab.export.architecture import describe

    with pytest.raises(ExportError, match="layer 'dense': activation 'lecun_tanh' has no Keras equivalent"):
        describe(model)


def test_cli_export_writes_checks_and_refuses_bad_names(mlp, tmp_path):
    pytest.importorskip("keras")
    import typer
    from typer.testing import CliRunner

    from sweeplab.cli_models import mount

    app = typer.Typer()
    mount(app)
    run_dir, out = str(mlp.run_dir), tmp_path / "m.keras"
    res = CliRunner().invoke(app, ["export", run_dir, "--format", "keras", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"wrote {out} (trial {mlp.trial_id}, ") and "differ by at most" in res.stdout
    assert float(res.stdout.rsplit("at most ", 1)[1]) <= 1e-5 and out.is_file()
    bad = CliRunner().invoke(app, ["export", run_dir, "-o", str(tmp_path / "m.h5")])
    assert bad.exit_code == 2 and bad.stderr.strip() == f"error: --output: {tmp_path / 'm.h5'}: a Keras file name ends in .keras"
    onnx = CliRunner().invoke(app, ["export", run_dir, "--format", "onnx", "-o", str(tmp_path / "m.onnx")])
    assert onnx.exit_code == 2 and onnx.stderr.strip() == "error: --format: 'onnx': accepted: keras, npz"
    npz = CliRunner().invoke(app, ["export", run_dir, "--format", "npz", "-o", str(tmp_path / "m.npz")])
    assert npz.exit_code == 0 and np.load(tmp_path / "m.npz")["dense/kernel"].shape == (64, 32)


def test_sweeplab_does_not_import_keras(mlp, tmp_path):
    """Only sweeplab.export.keras imports Keras: predictions, npz export and the CLI module do not."""
    code = (
        "import sys, sweeplab, sweeplab.cli, sweeplab.cli_models, sweeplab.export.npz\n"
        f"m = sweeplab.load({str(mlp.run_dir)!r}).model()\n"
        "x, _ = m.test_data(); m.predict(x)\n"
        f"sweeplab.export.npz.save_npz(m, {str(tmp_path / 'k.npz')!r})\n"
        "print('keras' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_two_headed_model_predicts_and_evaluates_per_head_like_the_stored_test(clocks):
    x, y = clocks.test_data()
    assert set(y) == {"hour", "minute"}
    out = clocks.predict(x)
    assert out["hour"].shape == (len(x), 12) and out["minute"].shape == (len(x), 1)
    got = clocks.evaluate(x, y)
    assert list(got) == ["loss", "hour_loss", "hour_accuracy", "minute_loss", "minute_mae"]
    row = sweeplab.load(clocks.run_dir).data.trials.loc[clocks.trial_id]
    for k in got:
        assert got[k] == pytest.approx(row[f"test_{k}"], rel=1e-4, abs=1e-6), k


def test_cli_predict_gives_one_part_per_head_for_a_clock_photo(clocks, tmp_path):
    import typer
    from PIL import Image
    from typer.testing import CliRunner

    from sweeplab.cli_models import mount

    x, _ = clocks.test_data()
    Image.fromarray(x[0, ..., 0]).resize((300, 300)).convert("RGB").save(tmp_path / "clock.jpg")
    app = typer.Typer()
    mount(app)
    res = CliRunner().invoke(app, ["predict", str(clocks.run_dir), str(tmp_path / "clock.jpg"), "--top", "2"])
    assert res.exit_code == 0, res.output
    name, rest = res.stdout.strip().split(": ", 1)
    hour, minute = rest.split("  ")
    assert name == "clock.jpg" and hour.startswith("hour: ") and minute.startswith("minute: ")
    assert len(hour.split(", ")) == 2 and float(minute.split(": ")[1]) == pytest.approx(
        float(clocks.predict(x[:1])["minute"][0, 0]), abs=0.25)


def test_keras_round_trip_feature_table_with_normalization_and_a_sigmoid_output(tmp_path_factory, tmp_path):
    text = ('[study]\nname = "export-2d"\nseed = 1\n[data]\ndataset = "synthetic2d"\nnormalize = "standardize"\n'
            'params = { function = "circles", n_samples = 600 }\n[model]\nmlp = { hidden = [16], activation = "relu" }\n'
            '[train]\noptimizer = "adam"\nlearning_rate = 0.01\nepochs = 3\nmetrics = ["accuracy"]\n')
    model = _train(tmp_path_factory, "table", text)
    km, got, want = _round_trip(model, tmp_path / "t.keras")
    assert got.shape == want.shape == (len(model.test_data()[0]), 1)  # one sigmoid unit
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert km.layers[1].name == "normalization" and type(km.layers[1]).__name__ == "Normalization"
    x, y = model.test_data()
    stored = sweeplab.load(model.run_dir).data.predictions(model.trial_id)
    np.testing.assert_array_equal(model.predict_classes(x), stored["y_pred/output"])
