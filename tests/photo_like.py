"""Photo-like renderings of MNIST digits: what a student's phone picture of a digit looks like.

Each MNIST test digit (white on black, 28x28) becomes dark ink on light paper at
large size: upscaled (bicubic) to ~200-330 px, inverted, rotated by up to +-12
degrees, placed at a random offset on a larger sheet, lit unevenly (a linear
gradient of up to 45 % plus a soft vignette), blurred, with sensor noise, a
slightly tinted colour, and saved as JPEG at quality 55-85.

``python tests/photo_like.py OUT_DIR [N]`` writes N renderings;
``python tests/photo_like.py --figure RUN_DIR OUT.png`` draws docs/models-own-digit.png.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from sweeplab.reproduce.photo import render  # noqa: F401  (moved into the package, issue 12)


def write(out_dir, digits: np.ndarray, labels: np.ndarray, seed: int = 0) -> list:
    """Write ``<i>_label<k>.jpg`` for each digit; returns the paths."""
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, (d, k) in enumerate(zip(digits, labels)):
        p = out / f"{i:04d}_label{int(k)}.jpg"
        p.write_bytes(render(d, rng))
        paths.append(p)
    return paths


def pen_seven(path) -> None:
    """A "7" drawn with a thin pen on a large, unevenly lit sheet (not from MNIST), as JPEG."""
    from PIL import ImageDraw

    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 235 - 70 * (xx / w) * (yy / h)
    im = Image.fromarray(paper.astype(np.uint8))
    ImageDraw.Draw(im).line([(250, 120), (400, 110), (405, 125), (330, 380)], fill=40, width=6, joint="curve")
    im = im.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    im.save(path, format="JPEG", quality=70)


def figure(run_dir, out_png, n: int = 3, seed: int = 5):
    """The docs picture: each rendering, the 28x28 the network saw, and its top 3 classes."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sweeplab
    from sweeplab import imageprep

    model = sweeplab.load(run_dir).model()
    (_, _), (x, y) = sweeplab.datasets.load("mnist", raw=True)
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    tmp = tempfile.mkdtemp()
    paths = write(tmp, x[idx], y[idx], seed=seed)
    pen_seven(f"{tmp}/pen7.jpg")
    paths, labels = [*paths, f"{tmp}/pen7.jpg"], [*y[idx], 7]
    fig, axes = plt.subplots(n + 1, 3, figsize=(7.2, 2.0 * (n + 1)), gridspec_kw={"width_ratios": [1.5, 1, 1.3]})
    for i, (row, p, label) in enumerate(zip(axes, paths, labels)):
        prep = imageprep.prepare_file(p, "mnist", (28, 28, 1), 255)
        proba = model.predict(prep.x[None])[0]
        top = np.argsort(-proba)[:3]
        row[0].imshow(prep.original)
        row[0].set_title(f"photo-like rendering of a {label}" if i < n else "a thin-pen 7 (not MNIST)",
                         fontsize=9)
        row[1].imshow(prep.x[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        row[1].set_title("28x28 the network saw", fontsize=9)
        row[2].barh([str(k) for k in top[::-1]], proba[top[::-1]], color="#4c72b0")
        row[2].set_xlim(0, 1)
        row[2].set_title("top 3 classes", fontsize=9)
        for ax in row[:2]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)


if __name__ == "__main__":
    import sys

    import sweeplab

    if sys.argv[1] == "--figure":  # python tests/photo_like.py --figure RUN_DIR OUT.png
        figure(sys.argv[2], sys.argv[3])
    else:
        (_, _), (x, y) = sweeplab.datasets.load("mnist", raw=True)
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
        print("\n".join(str(p) for p in write(sys.argv[1], x[:n], y[:n])))
