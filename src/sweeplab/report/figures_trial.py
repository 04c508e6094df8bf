"""Figures of one trial: confusion matrix, precision-recall curve, gradient
flow, misclassified gallery, conv filters, feature maps, decision regions."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from sweeplab.analysis.classification import normalize_confusion
from sweeplab.report import style
from sweeplab.report.style import figure, integer_epochs, legend_outside, message_figure, styled

_integer_epochs = integer_epochs


def _has_values(frame) -> bool:
    try:
        return bool(np.isfinite(np.asarray(frame, float)).any())
    except (TypeError, ValueError):
        return False


def confusion(cm, class_names=None, title: str | None = None):
    """The confusion matrix in one panel: the colour is the fraction of the
    true class (recall), each cell prints its count and, for up to 12
    classes, that fraction as a percentage."""
    cm = np.asarray(cm)
    k = len(cm)
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    frac = normalize_confusion(cm)
    cell = 0.52 if k <= 12 else max(0.28, 7.0 / max(k, 1))
    longest = max(map(len, names)) if names else 1
    side = cell * k
    fig = figure(side + 1.6 + 0.07 * longest, side + 1.0 + 0.05 * longest)
    with styled():
        ax = fig.add_subplot()
        im = ax.imshow(frac, cmap=style.SEQUENTIAL, vmin=0, vmax=1)
        ax.grid(False)
        ax.set_xticks(range(k), names, rotation=45 if longest > 3 else 0, ha="right" if longest > 3 else "center")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if k <= 20:
            fs = 8 if k <= 12 else 6
            for i in range(k):
                for j in range(k):
                    f = frac[i, j]
                    show_pct = k <= 12 and np.isfinite(f) and cm[i, j] > 0
                    text = f"{int(cm[i, j])}" + (f"\n{100 * f:.0f}%" if show_pct else "")
                    ax.text(j, i, text, ha="center", va="center", fontsize=fs, linespacing=1.1,
                            color="white" if not np.isfinite(f) or f < 0.5 else "black")
        fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
        # a narrow figure (two or three classes) would clip a one-line title: wrap it to the width
        width_in = fig.get_size_inches()[0]
        text = title or "confusion matrix: counts, % of true class"
        ax.set_title(textwrap.fill(text, width=max(16, int(width_in * 11))), fontsize=10)
    return fig


def pr_curve(precision, recall, ap: float, prevalence: float | None = None, title=None):
    """Precision-recall curve with its average precision; the dotted line is chance."""
    fig = figure(5.2, 3.6)
    with styled():
        ax = fig.add_subplot()
        ax.step(recall, precision, where="post", color=style.color(0), label=f"AP = {ap:.3f}")
        if prevalence is not None:
            ax.axhline(prevalence, color="grey", ls=":", lw=1, label=f"chance = {prevalence:.3f}")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall (fraction of positives found)")
        ax.set_ylabel("precision (fraction)")
        ax.set_title(title or "precision-recall curve (test set)")
        legend_outside(ax)
    return fig


def gradient_flow(flow: dict[str, pd.DataFrame], title: str | None = None):
    """Per-layer gradient norms over training: weights and biases, one line per layer.

    Args:
        flow: ``{"kernel": frame, "bias": frame}`` from
            :func:`sweeplab.analysis.gradient_flow` (index epoch, one column per layer).
    """
    kinds = [k for k in ("kernel", "bias") if k in (flow or {}) and _has_values(flow[k])]
    if not kinds:
        return message_figure("No gradient norms were recorded for this trial, so there is no gradient flow "
                              "to show. Set train.gradient_norms = true in the study to record them.")
    layers = list(dict.fromkeys(c for k in kinds for c in flow[k].columns))
    many = len(layers) > 8
    import matplotlib

    cmap = matplotlib.colormaps[style.SEQUENTIAL]
    colours = {l: (cmap(i / max(1, len(layers) - 1) * 0.9) if many else style.color(i)) for i, l in enumerate(layers)}
    fig = figure(3.6 * max(1, len(kinds)) + 1.4, 3.2)
    with styled():
        axs = fig.subplots(1, max(1, len(kinds)), squeeze=False)[0]
        for ax, kind in zip(axs, kinds):
            f = flow[kind]
            for layer in f.columns:
                ax.plot(f.index, f[layer], color=colours[layer], label=layer, gid=f"{kind}:{layer}",
                        **({"marker": "o", "ms": 3} if len(f) <= 15 else {}))
            _integer_epochs(ax, f.index)
            vals = f.to_numpy(float)
            if np.all(vals[np.isfinite(vals)] > 0) and np.isfinite(vals).any():
                ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel("gradient L2 norm")
            ax.set_title("weights (kernel)" if kind == "kernel" else "biases")
        if many:
            sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(1, len(layers)))
            fig.colorbar(sm, ax=axs[-1], label="layer (input → output)")
        else:
            legend_outside(axs[-1], title="layer")
        fig.suptitle(title or "gradient flow", fontsize=10)
    return fig


def _normalise(img, symmetric: bool):
    """One image scaled to [0, 1] (per image, like imshow's autoscaling); symmetric keeps 0 at 0.5."""
    img = np.asarray(img, float)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if symmetric:
        lim = np.nanmax(np.abs(img)) if img.size else 0.0
        return img / (2 * lim) + 0.5 if lim else np.full(img.shape, 0.5)
    lo, span = (np.nanmin(img), np.ptp(img)) if img.size else (0.0, 0.0)
    return (img - lo) / span if span else np.zeros(img.shape)


def _image_grid(images, titles, ncols: int, cell: float = 1.2, cmap="gray", suptitle=None, symmetric=False,
                title_lines: int = 1, image_inches: float | None = None):
    """A grid of images drawn as ONE mosaic in one axes (fast: no axes per image).

    Each cell is ``cell`` inches wide and has a band of ``title_lines`` lines
    above the image for its title, so titles never run into each other.
    """
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    imgs = [_normalise(im, symmetric) for im in images]
    if imgs and imgs[0].shape[1] < 64:  # tiny images (3x3 filters): enlarge so cells can be laid out in pixels
        k = int(np.ceil(64 / imgs[0].shape[1]))
        imgs = [np.repeat(np.repeat(im, k, axis=0), k, axis=1) for im in imgs]
    h, w = imgs[0].shape[:2] if imgs else (1, 1)
    rgb = any(im.ndim == 3 for im in imgs)
    img_in = image_inches or min(cell - 0.15, 1.0)
    ppi = w / img_in  # image pixels per inch
    cell_px, band_px = int(round(cell * ppi)), int(round((0.13 * title_lines + 0.06) * ppi)) if titles else 2
    row_px = band_px + h + max(1, int(0.08 * ppi))
    shape = (nrows * row_px, ncols * cell_px) + ((3,) if rgb else ())
    mosaic = np.full(shape, 1.0 if rgb else np.nan)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        y0, x0 = r * row_px + band_px, c * cell_px + (cell_px - w) // 2
        if rgb and im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=-1)
        mosaic[y0:y0 + im.shape[0], x0:x0 + im.shape[1]] = im
    head = 0.45 if suptitle else 0.05
    fig_w, fig_h = shape[1] / ppi, shape[0] / ppi + head
    fig = figure(fig_w, fig_h, layout=None)
    with styled():
        ax = fig.add_axes((0, 0, 1, shape[0] / ppi / fig_h))
        ax.set_axis_off()
        import matplotlib

        cm = matplotlib.colormaps[cmap].with_extremes(bad="white")
        ax.imshow(mosaic, cmap=None if rgb else cm, vmin=0, vmax=1, interpolation="nearest", aspect="auto",
                  extent=(0, shape[1], shape[0], 0))
        ax.set_xlim(0, shape[1])
        ax.set_ylim(shape[0], 0)
        for i, t in enumerate(titles or []):
            r, c = divmod(i, ncols)
            ax.text((c + 0.5) * cell_px, r * row_px + band_px - 0.02 * ppi, t, ha="center", va="bottom",
                    fontsize=7, linespacing=1.05)
        if suptitle:
            fig.suptitle(suptitle, fontsize=10, y=1 - 0.08 / fig_h, va="top")
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True)) or text


def misclassified_gallery(images, table: pd.DataFrame, ncols: int = 6):
    """Worst misclassified test images, titled ``true → predicted`` over ``(confidence)``.

    Cells are wide enough for two short lines of title (long class names
    wrap onto a third), so neighbouring titles never overlap.
    """
    cell = 1.45
    chars = int(cell * 72 / (7 * 0.6))  # characters of a 7 pt line in one cell
    titles = []
    for t, p, c in zip(table["true"], table["predicted"], table["confidence"]):
        head = _wrap(f"{t} → {p}", chars)
        titles.append(head + (f"\n({c:.2f})" if np.isfinite(c) else ""))
    lines = max((t.count("\n") + 1 for t in titles), default=1)
    return _image_grid(images, titles, ncols, cell=cell, title_lines=lines,
                       suptitle="misclassified test images, most confident first: true → predicted (confidence)")


def filters(kernels, ncols: int = 8):
    """First-layer convolution filters ``(out, H, W)``, diverging colours around 0."""
    return _image_grid(list(kernels), [f"{i + 1}" for i in range(len(kernels))], ncols, cell=0.9,
                       cmap=style.DIVERGING, suptitle="first conv layer filters, numbered (blue < 0 < red)",
                       symmetric=True, image_inches=0.75)


def feature_maps(maps: dict[str, np.ndarray], image=None, max_channels: int = 8):
    """Feature maps of each conv layer for one image: a row per layer."""
    rows = list(maps.items())
    ncols = max_channels + (1 if image is not None else 0)
    fig = figure(1.1 * ncols + 0.6, 1.3 * len(rows) + 0.5)
    with styled():
        axs = fig.subplots(len(rows), ncols, squeeze=False)
        for r, (name, m) in enumerate(rows):
            offset = 0
            if image is not None:
                img = np.asarray(image, float)
                axs[r, 0].imshow(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img, cmap="gray")
                axs[r, 0].set_title("input" if r == 0 else "", fontsize=7)
                offset = 1
            for c in range(max_channels):
                ax = axs[r, c + offset]
                if c < m.shape[-1]:
                    ax.imshow(m[..., c], cmap=style.SEQUENTIAL)
                    ax.set_title(f"{name}[{c}]", fontsize=6)
            for ax in axs[r]:
                ax.set_axis_off()
        fig.suptitle("feature maps per conv layer (first channels)", fontsize=10)
    return fig


def decision_regions(xx, yy, proba, x, y, class_names=None, title=None):
    """Predicted class regions over the plane with the training points on top."""
    fig = figure(5.6, 4.2)
    with styled():
        ax = fig.add_subplot()
        y = np.asarray(y)
        y = y.argmax(1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(int)
        if proba.ndim == 2:
            cs = ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap=style.DIVERGING, alpha=0.55)
            ax.contour(xx, yy, proba, levels=[0.5], colors="black", linewidths=1)
            fig.colorbar(cs, ax=ax, label="P(class 1)")
        else:
            cls = proba.argmax(-1)
            ax.contourf(xx, yy, cls, levels=np.arange(proba.shape[-1] + 1) - 0.5, colors=style.OKABE_ITO, alpha=0.3)
        names = class_names if class_names is not None else [str(i) for i in range(int(y.max()) + 1)]
        markers = "os^vDP*X"
        for c in np.unique(y):
            pts = x[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=6, marker=markers[int(c) % len(markers)], color=style.color(int(c)),
                       edgecolors="none", label=str(names[int(c)]) if int(c) < len(names) else str(c))
        ax.set_xlabel("x₁ (input feature 1)")
        ax.set_ylabel("x₂ (input feature 2)")
        ax.set_title(title or "decision regions (black line: P = 0.5) and training points")
        ax.grid(False)
        legend_outside(ax, title="class", markerscale=2)
    return fig


def regression(y_true, y_pred, title: str | None = None):
    """Predicted against true values on the test set (identity line dashed), and the residuals."""
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    fig = figure(9.0, 3.8)
    with styled():
        ax, ax2 = fig.subplots(1, 2)
        lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        ax.scatter(y_true, y_pred, s=6, alpha=0.4, linewidths=0, color=style.color(0))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="predicted = true")
        ax.set_xlabel("true value (target units)")
        ax.set_ylabel("predicted value (target units)")
        ax.legend(loc="upper left", frameon=False)
        ax2.hist(y_pred - y_true, bins=50, color=style.color(1))
        ax2.set_xlabel("residual, predicted - true (target units)")
        ax2.set_ylabel("test examples (count)")
        fig.suptitle(title or "regression on the test set")
    return fig
