"""Gradient flow, learning curves, filters and decision regions from given data."""

import numpy as np
import pandas as pd
import pytest

from sweeplab.analysis import curves, model_view
from sweeplab.report import figures_trial as ft


def _epochs(norms: dict[str, list[float]], trial="t1"):
    rows = [(trial, e + 1, "grad", name, v) for name, vals in norms.items() for e, v in enumerate(vals)]
    rows += [(trial, 1, "train", "loss", 0.5)]
    return pd.DataFrame(rows, columns=["trial_id", "epoch", "split", "metric", "value"])


def test_gradient_flow_data_and_plot_match_given_norms():
    norms = {f"dense_{i}/kernel": list(np.geomspace(1, 0.1, 4) * 10.0 ** -i) for i in (1, 2, 10)}
    norms.update({f"dense_{i}/bias": [0.5 / i] * 4 for i in (1, 2, 10)})
    flow = curves.gradient_flow(_epochs(norms))
    assert list(flow["kernel"].columns) == ["dense_1", "dense_2", "dense_10"]  # network order
    for layer in ("dense_1", "dense_2", "dense_10"):
        np.testing.assert_allclose(flow["kernel"][layer], norms[f"{layer}/kernel"])
        np.testing.assert_allclose(flow["bias"][layer], norms[f"{layer}/bias"])
    fig = ft.gradient_flow(flow)
    lines = {l.get_gid(): l for ax in fig.axes for l in ax.get_lines() if l.get_gid()}
    assert len(lines) == 6
    for name, vals in norms.items():
        layer, kind = name.split("/")
        line = lines[f"{kind}:{layer}"]
        np.testing.assert_allclose(line.get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(line.get_ydata(), vals)


def test_gradient_flow_needs_trial_when_several():
    e = pd.concat([_epochs({"d_1/kernel": [1.0]}, "a"), _epochs({"d_1/kernel": [2.0]}, "b")])
    with pytest.raises(ValueError, match="trial_id"):
        curves.gradient_flow(e)
    assert curves.gradient_flow(e, "b")["kernel"].iloc[0, 0] == 2.0


def test_mean_curves_per_value_with_std():
    trials = pd.DataFrame({"ax": [1, 1, 2]}, index=["a", "b", "c"])
    rows = [(t, ep, "val", "loss", v) for t, vals in {"a": [1.0, 0.5], "b": [3.0, 1.5], "c": [2.0]}.items()
            for ep, v in enumerate(vals, 1)]
    e = pd.DataFrame(rows, columns=["trial_id", "epoch", "split", "metric", "value"])
    m = curves.mean_curves(e, trials, "ax", "val", "loss").set_index(["value", "epoch"])
    assert m.loc[(1, 1), "mean"] == 2.0 and m.loc[(1, 1), "std"] == pytest.approx(np.std([1, 3], ddof=1))
    assert m.loc[(1, 2), "n"] == 2 and m.loc[(2, 1), "n"] == 1


def test_first_layer_filters_and_summary():
    k = np.arange(3 * 3 * 2 * 4, dtype=float).reshape(3, 3, 2, 4)
    params = {"conv2d_2/kernel": np.ones((3, 3, 4, 8)), "conv2d_1/kernel": k, "conv2d_1/bias": np.zeros(4),
              "dense_1/kernel": np.ones((10, 2))}
    f = model_view.first_layer_filters(params)
    assert f.shape == (4, 3, 3)
    np.testing.assert_allclose(f[1], k[:, :, :, 1].mean(axis=2))
    s = model_view.parameter_summary(params)
    assert list(s["layer"]) == ["conv2d_1", "conv2d_2", "dense_1"]
    assert s.attrs["total"] == k.size + 4 + 3 * 3 * 4 * 8 + 20


def test_decision_regions_evaluate_the_predict_function_on_a_grid():
    x = np.array([[-1.0, -1.0], [1.0, 2.0]])
    xx, yy, proba = model_view.decision_regions(lambda p: (p[:, 0] > 0).astype(float)[:, None], x, resolution=50)
    assert xx.shape == yy.shape == proba.shape == (50, 50)
    assert xx.min() < -1 and yy.max() > 2
    np.testing.assert_array_equal(proba, (xx > 0).astype(float))
    fig = ft.decision_regions(xx, yy, proba, x, np.array([0, 1]))
    assert fig.axes[0].get_xlabel().startswith("x")
