"""Figures of data (matplotlib, Agg; never opens a window).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot;
``save(fig, path)`` writes PNG and SVG next to each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def save(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "svg"),
         dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix in ``formats``; returns the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        p = path.with_suffix("." + fmt)
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        out.append(p)
    return out


def _label_counts(obj) -> tuple[dict[str, np.ndarray], list[str]]:
    """{split: counts per class}, class names, from a PreparedData or a Dataset."""
    from .loaders import Dataset
    from .pipeline import PreparedData

    if isinstance(obj, PreparedData):
        head = next((h for h in obj.heads.values() if h.kind != "regression"), None)
        if head is None:
            raise ValueError("class_distribution: no classification head to count")
        names = head.class_names or [str(i) for i in range(head.n_classes or 0)]
        counts = {k: np.bincount(s.y[head.name].astype(int), minlength=len(names))
                  for k, s in obj.splits().items()}
        return counts, names
    if isinstance(obj, Dataset):
        names = list(obj.class_names or [])
        counts = {}
        for k, (_, y) in obj.splits().items():
            lab = y if y.ndim == 1 else y[:, 0]
            counts[k] = np.bincount(lab.astype(int), minlength=len(names))
        if not names:
            names = [str(i) for i in range(max(len(c) for c in counts.values()))]
        return counts, names
    raise TypeError(f"class_distribution: expected PreparedData or Dataset, got {type(obj).__name__}")


def class_distribution(obj, *, title: str | None = None, normalize: bool = False) -> Figure:
    """Bars of class counts per split (seed 003 figs. 4 and 6)."""
    counts, names = _label_counts(obj)
    fig = Figure(figsize=(max(5.0, 0.55 * len(names) * max(1, len(counts)) / 1.5), 3.4))
    ax = fig.add_subplot()
    k = len(counts)
    width = 0.8 / k
    xs = np.arange(len(names))
    for i, (split, c) in enumerate(counts.items()):
        vals = c / max(1, c.sum()) if normalize else c
        bars = ax.bar(xs + (i - (k - 1) / 2) * width, vals, width, label=f"{split} ({c.sum()})")
        if len(names) <= 12 and not normalize:
            ax.bar_label(bars, fontsize=6, rotation=90, padding=2)
    ax.set_xticks(xs, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_ylabel("fraction" if normalize else "count")
    ax.set_title(title or f"{getattr(obj, 'name', '')} class distribution")
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def _to_display(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1 or (x.ndim == 2 and x.shape[-1] > 3 and int(np.sqrt(x.shape[-1])) ** 2 == x.shape[-1]):
        side = int(np.sqrt(x.shape[-1]))
        x = x.reshape(side, side)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    x = x.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def sample_grid(x: np.ndarray, labels: Sequence | None = None, *, n: int = 25,
                ncols: int | None = None, class_names: Sequence[str] | None = None,
                title: str | None = None, seed: int | None = None) -> Figure:
    """A grid of the first ``n`` images (or ``n`` random ones when ``seed`` is given)
    titled with their labels (seed 003 figs. 3 and 5)."""
    x = np.asarray(x)
    idx = np.arange(min(n, len(x)))
    if seed is not None:
        idx = np.random.default_rng(seed).choice(len(x), len(idx), replace=False)
    ncols = ncols or int(np.ceil(np.sqrt(len(idx))))
    nrows = int(np.ceil(len(idx) / ncols)) or 1
    fig = Figure(figsize=(1.3 * ncols, 1.45 * nrows + (0.3 if title else 0)))
    for j, i in enumerate(idx):
        ax = fig.add_subplot(nrows, ncols, j + 1)
        img = _to_display(x[i])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_axis_off()
        if labels is not None:
            lab = labels[i]
            if class_names is not None and np.ndim(lab) == 0 and float(lab).is_integer():
                lab = class_names[int(lab)]
            elif isinstance(lab, (float, np.floating)):
                lab = f"{lab:.3g}"
            ax.set_title(str(lab), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def scatter2d(x: np.ndarray, y: np.ndarray, *, title: str | None = None,
              class_names: Sequence[str] | None = None, s: float = 3.0) -> Figure:
    """Scatter of 2-D points coloured by label (seed 002 fig. 1)."""
    x, y = np.asarray(x), np.asarray(y)
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    if y.dtype.kind == "f" and len(np.unique(y)) > 10:
        sc = ax.scatter(x[:, 0], x[:, 1], c=y, s=s, cmap="viridis")
        fig.colorbar(sc, ax=ax)
    else:
        for c in np.unique(y):
            m = y == c
            name = class_names[int(c)] if class_names is not None else f"label {c:g}"
            ax.scatter(x[m, 0], x[m, 1], s=s, label=name,
                       color=("#440154" if c == 0 else "#fde725") if len(np.unique(y)) == 2 else None,
                       edgecolors="none")
        ax.legend(markerscale=3, fontsize=8, loc="upper right")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def clock_grid(x: np.ndarray, hours: np.ndarray, minutes: np.ndarray | None = None, *,
               n: int = 16, ncols: int | None = None, title: str | None = None) -> Figure:
    """A grid of clock images titled with their times ``h:mm``.

    ``hours`` may be the (N, 2) ``[hour, minute]`` label array of ``load("clocks")``.
    """
    hours = np.asarray(hours)
    if minutes is None:
        hours, minutes = hours[:, 0], hours[:, 1]
    labels = [f"{int(h)}:{int(round(float(m))):02d}" for h, m in zip(hours, minutes)]
    return sample_grid(x, labels, n=n, ncols=ncols, title=title)
