"""One look for every figure: Okabe-Ito colours, labelled axes with units,
legends outside the data. Figures are plain ``matplotlib.figure.Figure``
objects (no pyplot), so nothing ever opens a window."""

from __future__ import annotations

import contextlib
import io

import matplotlib

matplotlib.use("Agg", force=False)
from matplotlib import rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Okabe & Ito (2008), "Color Universal Design": distinguishable with the
# common colour-vision deficiencies. Ordered so that any first n are as far
# apart as the palette allows (CIELAB distance >= 54 up to five values, 33 with
# six): blue, orange, green, purple, black, then vermillion (close to orange),
# sky blue (close to blue: the batch-size study's "full" vs 32) and yellow
# (weak on white). Markers differ too, so colour is never the only cue.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#000000", "#D55E00", "#56B4E9", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-."]
SEQUENTIAL = "viridis"  # perceptually uniform and colour-blind safe
DIVERGING = "RdBu_r"

RC = {
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "figure.dpi": 100,
    "font.family": "DejaVu Sans",
    "svg.fonttype": "none",  # text stays text in SVG: searchable, small
    "svg.hashsalt": "sweeplab",  # stable ids: identical figures give identical files
    "image.cmap": SEQUENTIAL,
}

UNITS = {
    "loss": "loss",
    "accuracy": "accuracy (fraction)",
    "f1": "F1 score",
    "precision": "precision",
    "recall": "recall",
    "mae": "mean absolute error",
    "mse": "mean squared error",
    "time_per_epoch": "time per epoch (s)",
    "n_params": "parameters (count)",
}


def metric_label(column: str) -> str:
    """Axis label for a metric column: ``test_accuracy`` -> ``test accuracy (fraction)``."""
    if column in UNITS:
        return UNITS[column]
    split, _, metric = column.partition("_")
    if split in ("test", "train", "val") and metric:
        base = metric.rsplit("_", 1)[-1]
        unit = UNITS.get(base, metric)
        head = metric[: -len(base) - 1] if metric != base else ""
        return f"{split} {head + ' ' if head else ''}{unit}"
    base = column.rsplit("_", 1)[-1]
    return UNITS.get(base, column)


def color(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def linestyle(i: int) -> str:
    return LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)]


def figure(width: float = 6.4, height: float = 3.6, layout: str | None = "constrained", **kw) -> Figure:
    """A new figure in the house style (constrained layout, so outside legends fit)."""
    with rc_context(RC):
        return Figure(figsize=(width, height), layout=layout, **kw)


@contextlib.contextmanager
def styled():
    """Context in which artists pick up the house style."""
    with rc_context(RC):
        yield


def legend_outside(ax, title: str | None = None, **kw):
    """Legend to the right of the axes, never over the data."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, **kw)


def integer_epochs(ax, epochs=()) -> None:
    """Whole-number ticks on an epoch axis; a 1- or 2-epoch run gets room around its points."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ep = np.asarray(list(epochs), float)
    ep = ep[np.isfinite(ep)]
    if ep.size and ep.max() - ep.min() < 2:
        ax.set_xlim(ep.min() - 0.5, ep.max() + 0.5)


def message_figure(text: str, width: float = 6.4) -> Figure:
    """A small figure that says why there is nothing to draw (never an empty axes)."""
    import textwrap

    lines = textwrap.wrap(text, width=int(width * 12))
    fig = figure(width, 0.35 + 0.22 * len(lines), layout=None)
    with styled():
        fig.text(0.02, 0.5, "\n".join(lines), ha="left", va="center", fontsize=9, color="#555555")
    return fig


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    with rc_context(RC):
        # zlib level 1: several times faster to encode than the default 6, files ~10% larger
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def to_svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with rc_context(RC):
        fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    return buf.getvalue()
