"""Figures as a reader sees them: list-valued axes coloured, labelled and
ordered like any other axis, categorical axes as points, short runs visible,
titles that fit and do not overlap, no empty axes, readable matrices."""

import itertools
import math

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Text

from sweeplab.analysis.rundata import RunData
from sweeplab.report import figures_study as fs
from sweeplab.report import figures_trial as ft
from sweeplab.report import style
from sweeplab.values import same
from test_analysis_fixtures import make_run

HIDDEN = "model.mlp.hidden"
# Given out of order on purpose: figures must sort them numerically, element-wise.
LIST_SWEEP = {HIDDEN: [[256], [16], [300, 100], [64]], "train.optimizer": ["sgd", "adam"]}
ORDERED = ["[16]", "[64]", "[256]", "[300, 100]"]


def _run(tmp_path, sweep, epochs=3, repeats=2):
    d, _ = make_run(tmp_path, sweep=sweep, epochs=epochs, repeats=repeats, artifacts="none")
    return RunData.from_run(d)


@pytest.fixture(scope="module")
def list_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("listaxis"), LIST_SWEEP)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("oneepoch"), {HIDDEN: [[64], [16]]}, epochs=1)


def _drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def _legend_labels(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def _data_lines(ax):
    """The data line of each error-bar plot (not its caps or bars)."""
    return [c.lines[0] for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_list_axis_curves_have_distinct_colours_and_list_labels_in_numeric_order(list_run):
    fig = fs.mean_learning_curves(list_run.epochs, list_run.trials, HIDDEN)
    assert _legend_labels(fig) == ORDERED
    ax = fig.axes[0]
    colours = {mcolors.to_hex(l.get_color()) for l in ax.get_lines()}
    assert len(colours) == 4, f"list values share colours: {colours}"
    text = " ".join(t.get_text() for t in fig.findobj(Text))
    assert "(16,)" not in text and "(300, 100)" not in text


def test_effect_plot_orders_list_values_and_draws_categories_as_points(list_run):
    fig = fs.effect_plot(list_run.trials, HIDDEN, ["test_accuracy"], by="train.optimizer")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ORDERED
    assert _legend_labels(fig) == ["adam", "sgd"]
    for line in _data_lines(ax):  # points with error bars, never joined across categories
        assert line.get_linestyle() in ("None", "none", ""), line.get_linestyle()
    # per-value means land on the right tick: [300, 100] is the 4th category
    t = list_run.trials
    want = t[t[HIDDEN].map(lambda v: same(v, [300, 100]))]["test_accuracy"].mean()
    ys = [y for l in _data_lines(ax) for x, y in zip(l.get_xdata(), l.get_ydata()) if round(x) == 3]
    assert np.mean(ys) == pytest.approx(want)


def test_numeric_axis_keeps_joined_lines(tmp_path):
    rd = _run(tmp_path, {"train.learning_rate": [0.1, 0.01, 0.001]}, repeats=2)
    fig = fs.effect_plot(rd.trials, "train.learning_rate", ["test_accuracy"])
    (line,) = _data_lines(fig.axes[0])
    assert line.get_linestyle() == "-"
    assert list(line.get_xdata()) == [0.001, 0.01, 0.1]


def test_one_epoch_runs_draw_markers_and_integer_epoch_ticks(one_epoch_run):
    rd = one_epoch_run
    for fig in (fs.mean_learning_curves(rd.epochs, rd.trials, HIDDEN),
                fs.learning_curves(rd.epochs, rd.trials.index[0])):
        _drawn(fig)
        for ax in fig.axes:
            if not ax.get_lines():
                continue
            for line in ax.get_lines():
                assert line.get_marker() not in (None, "None", "", " "), "a 1-point line without a marker is invisible"
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_three_epoch_ticks_are_integers(list_run):
    fig = _drawn(fs.mean_learning_curves(list_run.epochs, list_run.trials, HIDDEN))
    for ax in fig.axes:
        if ax.get_lines():
            lo, hi = ax.get_xlim()
            assert all(float(t).is_integer() for t in ax.get_xticks() if lo <= t <= hi)


def _inside(fig, artist):
    fb = fig.bbox
    bb = artist.get_window_extent()
    return bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1 and bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1


def test_heatmap_title_fits_and_says_other_axes_only_when_there_are_some(list_run, tmp_path):
    fig = _drawn(fs.heatmap(list_run.trials, HIDDEN, "train.optimizer", "test_accuracy"))
    title = fig.axes[0].title
    assert "other axes" not in title.get_text()
    assert _inside(fig, title), "heat-map title clipped"
    assert fig.get_size_inches()[0] >= 4.5  # not a postage stamp next to empty space

    three = _run(tmp_path, {"a.x": [1, 2], "a.y": [3, 4], "a.z": [5, 6]}, repeats=1)
    fig = _drawn(fs.heatmap(three.trials, "a.x", "a.y", "test_accuracy"))
    assert "other axes" in fig.axes[0].title.get_text()
    assert _inside(fig, fig.axes[0].title)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_gallery_titles_do_not_overlap_with_long_class_names():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    n = 24
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"true": [names[i % 10] for i in range(n)], "predicted": [names[(i * 7 + 3) % 10] for i in range(n)],
                          "confidence": np.linspace(1.0, 0.5, n)})
    fig = _drawn(ft.misclassified_gallery(rng.random((n, 28, 28, 1)), table))
    titles = [t for t in fig.findobj(Text) if "→" in t.get_text() and "misclassified" not in t.get_text()]
    assert len(titles) == n
    boxes = [t.get_window_extent() for t in titles]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not _overlaps(a, b), f"titles {titles[i].get_text()!r} and {titles[j].get_text()!r} overlap"
    assert all(_inside(fig, t) for t in titles)


def test_gradient_flow_without_records_says_why_instead_of_empty_axes():
    for flow in ({}, {"kernel": pd.DataFrame(), "bias": pd.DataFrame()}):
        fig = ft.gradient_flow(flow)
        assert not any(ax.has_data() for ax in fig.axes)
        assert not fig.axes, "an empty axes titled 'gradient flow' says nothing"
        text = " ".join(t.get_text() for t in fig.findobj(Text))
        assert "gradient_norms" in text


def test_confusion_matrix_numbers_are_readable_for_ten_classes():
    rng = np.random.default_rng(1)
    cm = rng.integers(0, 900, (10, 10))
    fig = ft.confusion(cm, [f"class {i}" for i in range(10)])
    # drawn at 110 dpi into a ~1100 px wide column: a figure wider than ~10 in
    # is shrunk, and its digits with it
    assert fig.get_size_inches()[0] <= 10.0
    cells = [t for t in fig.axes[0].texts if t.get_text().split("\n")[0].isdigit()]
    assert len(cells) == 100
    assert min(t.get_fontsize() for t in cells) >= 8
    assert {t.get_text().split("\n")[0] for t in cells} == {str(v) for v in cm.ravel()}


@pytest.mark.parametrize("k", [2, 3, 10])
def test_confusion_matrix_title_fits_inside_the_figure(k):
    # a two-class matrix is a narrow figure: its one-line title used to be cut at both ends ("onfusion matri")
    fig = ft.confusion(np.arange(k * k).reshape(k, k) + 1)
    FigureCanvasAgg(fig).draw()
    box = fig.axes[0].title.get_window_extent()
    width = fig.bbox.width
    assert box.x0 >= 0 and box.x1 <= width, (box, width)
    assert "confusion matrix" in fig.axes[0].title.get_text().replace("\n", " ")


def _lab(hex_colour):
    """CIE L*a*b* (D65) of an sRGB colour."""
    rgb = np.array(mcolors.to_rgb(hex_colour))
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_colours_of_up_to_six_values_are_clearly_different():
    """The batch-size study (32, 64, 128, 256, full): 'full' and 32 were light and dark blue (ΔE 26)."""
    for n in range(2, 7):
        cols = [style.color(i) for i in range(n)]
        for a, b in itertools.combinations(cols, 2):
            delta = float(np.linalg.norm(_lab(a) - _lab(b)))
            assert delta > (50 if n <= 5 else 30), f"{a} and {b} are too close (ΔE = {delta:.0f}) with {n} values"
    assert len({style.marker(i) for i in range(8)}) == 8  # shape as a second cue


def test_effect_plot_handles_mixed_numbers_and_text_in_order(tmp_path):
    rd = _run(tmp_path, {"train.batch_size": ["full", 1024, 32]}, repeats=2)
    fig = fs.effect_plot(rd.trials, "train.batch_size", ["test_accuracy"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["32", "1024", "full"]
    assert math.isfinite(fig.axes[0].get_ylim()[0])
