"""Figures of one trial: confusion matrix, precision-recall curve, gradient
flow, misclassified gallery, conv filters, feature maps, decision regions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sweeplab.analysis.classification import normalize_confusion
from sweeplab.report import style
from sweeplab.report.style import figure, legend_outside, styled


def confusion(cm, class_names=None, title: str | None = None):
    """Counts and row-normalised (recall) confusion matrices side by side."""
    cm = np.asarray(cm)
    k = len(cm)
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    size = min(2.4 + 0.45 * k, 7.5)
    fig = figure(2 * size + 0.8, size)
    with styled():
        axs = fig.subplots(1, 2)
        for ax, data, sub, fmt in ((axs[0], cm, "counts", "d"), (axs[1], normalize_confusion(cm), "normalised by true class", ".2f")):
            im = ax.imshow(data, cmap=style.SEQUENTIAL, vmin=0, vmax=None if fmt == "d" else 1)
            ax.grid(False)
            ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0)
            ax.set_yticks(range(k), names)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
            ax.set_title(sub)
            if k <= 20:
                hi = data.max() if data.size else 0
                for i in range(k):
                    for j in range(k):
                        ax.text(j, i, format(data[i, j], fmt), ha="center", va="center", fontsize=7,
                                color="white" if data[i, j] < hi / 2 else "black")
            fig.colorbar(im, ax=ax, shrink=0.8, label="count" if fmt == "d" else "fraction of true class")
        if title:
            fig.suptitle(title, fontsize=10)
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
    kinds = [k for k in ("kernel", "bias") if k in flow]
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
                ax.plot(f.index, f[layer], color=colours[layer], label=layer, gid=f"{kind}:{layer}")
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


def _image_grid(images, titles, ncols: int, cell: float = 1.2, cmap="gray", suptitle=None, symmetric=False):
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    fig = figure(cell * ncols + 0.4, (cell + 0.35) * nrows + 0.4)
    with styled():
        axs = fig.subplots(nrows, ncols, squeeze=False)
        for i, ax in enumerate(axs.flat):
            ax.set_axis_off()
            if i >= n:
                continue
            img = np.asarray(images[i], float)
            if img.ndim == 3 and img.shape[-1] == 1:
                img = img[..., 0]
            if img.ndim == 3:
                img = (img - img.min()) / (np.ptp(img) or 1.0)
                ax.imshow(img)
            else:
                lim = np.abs(img).max() or 1.0
                kw = dict(vmin=-lim, vmax=lim) if symmetric else {}
                ax.imshow(img, cmap=cmap, **kw)
            if titles:
                ax.set_title(titles[i], fontsize=7)
        if suptitle:
            fig.suptitle(suptitle, fontsize=10)
    return fig


def misclassified_gallery(images, table: pd.DataFrame, ncols: int = 8):
    """Worst misclassified test images, titled ``true → predicted (confidence)``."""
    titles = [f"{t} → {p}" + (f" ({c:.2f})" if np.isfinite(c) else "")
              for t, p, c in zip(table["true"], table["predicted"], table["confidence"])]
    return _image_grid(images, titles, ncols, suptitle="misclassified test images, most confident first "
                       "(true → predicted (confidence))")


def filters(kernels, ncols: int = 8):
    """First-layer convolution filters ``(out, H, W)``, diverging colours around 0."""
    return _image_grid(list(kernels), [f"filter {i + 1}" for i in range(len(kernels))], ncols, cell=1.0,
                       cmap=style.DIVERGING, suptitle="first conv layer filters (blue < 0 < red)", symmetric=True)


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
