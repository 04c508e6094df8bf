"""A photo-like rendering of an MNIST digit: what a student's phone picture of a digit looks like.

Seed 001's exercise 3 classifies the author's own handwritten digit; the reproduction
renders one (this module) and classifies it through ``sweeplab predict``'s path
(:func:`sweeplab.imageprep.prepare_file`, then the trained model).

Each MNIST digit (white on black, 28x28) becomes dark ink on light paper at large size:
upscaled (bicubic) to ~200-330 px, inverted, rotated by up to +-12 degrees, placed at a
random offset on a larger sheet, lit unevenly (a linear gradient of up to 45 % plus a soft
vignette), blurred, with sensor noise, a slightly tinted colour, saved as JPEG at quality 55-85.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["render"]


def render(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """One MNIST digit ``(28, 28)`` uint8 -> JPEG bytes of a photo-like rendering."""
    scale = rng.uniform(7, 12)
    side = int(28 * scale)
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    ink = ink.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, fillcolor=0)
    h, w = int(side * rng.uniform(1.3, 1.7)), int(side * rng.uniform(1.3, 1.9))
    sheet = np.zeros((h, w))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    sheet[top:top + side, left:left + side] = np.asarray(ink, np.float64) / 255.0
    paper = rng.uniform(200, 245)
    ink_level = rng.uniform(20, 70)
    img = paper - sheet * (paper - ink_level)
    # uneven lighting: a linear gradient in a random direction and a vignette
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5))
    light = 1.0 - rng.uniform(0.15, 0.45) * (ramp + 0.5)
    light *= 1.0 - 0.25 * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    img = img * light
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 2.0)))
    img = np.asarray(im, np.float64) + rng.normal(0, rng.uniform(2, 8), (h, w))
    tint = rng.uniform(0.9, 1.05, 3)
    rgb = np.clip(img[..., None] * tint, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(rng.integers(55, 86)))
    return buf.getvalue()
