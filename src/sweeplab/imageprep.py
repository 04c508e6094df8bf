"""Image files -> a trained model's raw input, with the dataset's own preprocessing.

``sweeplab predict`` uses this to classify a photo or scan of a digit (or a
garment, a clock...). The image is brought into the form the dataset stores
(uint8, the dataset's size and channels, its polarity); the model then applies
the training run's own scaling and permutation (:mod:`sweeplab.preprocessing`).

MNIST (LeCun et al. 1998, and the MNIST page: "normalized to fit in a 20x20
pixel box while preserving their aspect ratio ... centered in a 28x28 image by
computing the center of mass of the pixels") is reproduced step by step:

1. grey levels; a light background (paper) is detected (the ink is the minority
   on the far side of the median) and inverted to white ink on black;
2. uneven lighting: the background is estimated by a grey closing (strokes
   removed) at low resolution, smoothed, and subtracted;
3. mild threshold/denoise: Otsu's threshold on the ink map; specks (components
   under 5 % of the largest) are dropped; grey edges are kept (MNIST is
   anti-aliased);
4. crop to the ink's bounding box; thin pen strokes are thickened to MNIST's
   stroke width (about 1/9 of the digit's height);
5. fit into 20x20 keeping the aspect ratio (area resampling), place in 28x28 with
   the centre of mass at the centre.

``digits`` (scikit-learn's 8x8, 0..16) follows its own UCI recipe: the digit is fitted
into 32x32 and each 4x4 block's ink counted (0..16). Fashion-MNIST: the object
is cropped, its longest side resized to 28, inverted to light-on-dark. Other image
datasets (``clocks``, ``svhn``): padded to a square with the border colour and
resized to the input size, channels converted.
"""

from __future__ import annotations

from sweeplab.errors import UserError

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ImageError(UserError):
    """An image file that cannot be read or holds nothing to classify (one line)."""


@dataclass(frozen=True)
class Prepared:
    """One image file brought into a dataset's stored form."""

    path: Path
    original: np.ndarray  # (H, W, 3) uint8, as read (orientation applied)
    x: np.ndarray  # the dataset's stored form, e.g. (28, 28, 1) uint8


def read_image(path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB (EXIF orientation applied)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))  # transparent = paper
                im = Image.alpha_composite(bg, im)
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError(f"{path}: cannot read as an image (PNG, JPEG, ...): {e}") from None


def grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, float 0..255 (what PIL's ``convert("L")`` computes)."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _resize(a: np.ndarray, size: tuple[int, int], resample: str = "box") -> np.ndarray:
    """Resize a float image ``a`` (H, W) to ``size`` = (h, w) with PIL (float mode)."""
    from PIL import Image

    mode = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
            "lanczos": Image.Resampling.LANCZOS}[resample]
    im = Image.fromarray(np.ascontiguousarray(a, np.float32), mode="F")
    return np.asarray(im.resize((int(size[1]), int(size[0])), mode), np.float64)


def _working(g: np.ndarray, side: int = 320) -> np.ndarray:
    """Downscale so the longest side is at most ``side`` (speed; photos are large)."""
    h, w = g.shape
    f = side / max(h, w)
    return _resize(g, (max(1, round(h * f)), max(1, round(w * f)))) if f < 1 else g


def light_background(g: np.ndarray) -> bool:
    """True when the ink is darker than the background (ink is the minority: it lies on
    the far side of the median)."""
    lo, med, hi = np.percentile(g, [1, 50, 99])
    return (med - lo) >= (hi - med)


def ink_map(g: np.ndarray) -> np.ndarray:
    """Ink strength 0..1 (1 = darkest stroke on paper, or brightest on a dark board),
    with the (unevenly lit) background estimated and removed."""
    from scipy import ndimage

    light = light_background(g)
    h, w = g.shape
    small = _resize(g, (max(4, round(64 * h / max(h, w))), max(4, round(64 * w / max(h, w)))))
    # A closing (opening for light ink) of 9 px at 64 px removes strokes up to ~14 % of the frame.
    bg = ndimage.grey_closing(small, size=9) if light else ndimage.grey_opening(small, size=9)
    bg = ndimage.gaussian_filter(bg, 2.0, mode="nearest")
    bg = _resize(bg, (h, w), "bilinear")
    ink = np.clip(bg - g if light else g - bg, 0, None)
    top = ndimage.median_filter(ink, size=3).max()
    return np.clip(ink / top, 0, 1) if top > 0 else ink


def otsu(a: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1] (maximum between-class variance)."""
    hist, edges = np.histogram(a, bins=bins, range=(0, 1))
    p = hist / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m = np.cumsum(p * centres)
    mt = m[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = 0
    return float(centres[int(np.argmax(between))])


def clean_ink(ink: np.ndarray, path="image") -> tuple[np.ndarray, np.ndarray]:
    """Threshold mildly and drop specks. Returns (ink with the background at 0, mask)."""
    from scipy import ndimage

    t = max(otsu(ink), 0.15)
    mask = ink > t
    labels, n = ndimage.label(mask)
    if n == 0:
        raise ImageError(f"{path}: no ink found (a blank image?)")
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= 0.05 * sizes.max()) + 1
    mask = np.isin(labels, keep)
    near = ndimage.binary_dilation(mask, iterations=2)
    out = np.where(near & (ink > t / 2), ink, 0.0)
    # strokes saturate like MNIST's (their cores are 255)
    core = np.percentile(out[mask], 75) if mask.any() else 1.0
    return np.clip(out / max(core, 1e-6), 0, 1), mask


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _thicken(crop: np.ndarray, mask: np.ndarray, target_ratio: float = 1 / 9) -> np.ndarray:
    """Dilate thin strokes to about ``target_ratio`` of the digit's height.

    Stroke width ~ 2 * area / perimeter for long thin strokes."""
    from scipy import ndimage

    area = mask.sum()
    perimeter = (mask ^ ndimage.binary_erosion(mask)).sum()
    width = 2.0 * area / max(perimeter, 1)
    target = target_ratio * max(mask.shape)
    grow = int(round((target - width) / 2))
    if width < 0.7 * target and grow >= 1:
        crop = ndimage.grey_dilation(crop, size=(2 * grow + 1, 2 * grow + 1))
    return crop


def _fit(crop: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longest side is ``box``, keeping the aspect ratio."""
    h, w = crop.shape
    f = box / max(h, w)
    return _resize(crop, (max(1, round(h * f)), max(1, round(w * f))))


def _centre_of_mass(patch: np.ndarray, size: int) -> np.ndarray:
    """Place ``patch`` in a ``size`` square with its centre of mass at the centre."""
    h, w = patch.shape
    ys, xs = np.mgrid[0:h, 0:w]
    total = patch.sum()
    cy, cx = ((ys * patch).sum() / total, (xs * patch).sum() / total) if total > 0 else ((h - 1) / 2, (w - 1) / 2)
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    out = np.zeros((size, size))
    out[top:top + h, left:left + w] = patch
    return out


def digit_mnist(g: np.ndarray, path="image", size: int = 28, box: int = 20) -> np.ndarray:
    """A grey image of one handwritten digit -> MNIST form, (size, size) float 0..1."""
    ink, mask = clean_ink(ink_map(_working(g)), path)
    rows, cols = _bbox(mask)
    crop = _thicken(ink[rows, cols], mask[rows, cols])
    return np.clip(_centre_of_mass(_fit(crop, box), size), 0, 1)


def digit_sklearn(g: np.ndarray, path="image") -> np.ndarray:
    """scikit-learn ``digits`` form: fitted into 32x32, ink counted per 4x4 block -> 8x8 in 0..16/16."""
    ink, mask = clean_ink(ink_map(_working(g)), path)
    rows, cols = _bbox(mask)
    crop = _thicken(ink[rows, cols], mask[rows, cols], 1 / 7)
    big = _fit(crop, 32)
    h, w = big.shape
    canvas = np.zeros((32, 32))
    canvas[(32 - h) // 2:(32 - h) // 2 + h, (32 - w) // 2:(32 - w) // 2 + w] = big
    return canvas.reshape(8, 4, 8, 4).mean(axis=(1, 3))


def object_fashion(g: np.ndarray, path="image", size: int = 28) -> np.ndarray:
    """Fashion-MNIST form: object cropped, longest side ``size``, light on dark."""
    g = _working(g)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    level = np.median(border)
    obj = np.abs(g - level) / 255.0
    mask = obj > max(otsu(obj) / 2, 0.04)
    if not mask.any():
        raise ImageError(f"{path}: no object found (a blank image?)")
    rows, cols = _bbox(mask)
    # Fashion-MNIST negates the photo: a light garment on white paper ends up dark-ish on black
    crop = (255.0 - g[rows, cols]) / 255.0 if level > 127 else g[rows, cols] / 255.0
    crop = np.where(mask[rows, cols], crop, 0.0)
    patch = _fit(crop, size)
    h, w = patch.shape
    out = np.zeros((size, size))
    out[(size - h) // 2:(size - h) // 2 + h, (size - w) // 2:(size - w) // 2 + w] = patch
    return out


def resized(rgb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pad to a square with the border colour, resize to ``shape`` (H, W, C), 0..255."""
    img = rgb.astype(np.float64)
    h, w = img.shape[:2]
    side = max(h, w)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    canvas = np.empty((side, side, 3))
    canvas[:] = np.median(border, axis=0)
    canvas[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = img
    if shape[2] == 1:
        return _resize(grey(canvas), shape[:2], "lanczos")[..., None]
    return np.stack([_resize(canvas[..., c], shape[:2], "lanczos") for c in range(3)], -1)


def _mnist(rgb, path, shape):
    return digit_mnist(grey(rgb), path, size=shape[0], box=round(shape[0] * 20 / 28))[..., None] * 255.0


def _digits(rgb, path, shape):
    return digit_sklearn(grey(rgb), path)[..., None] * 16.0


def _fashion(rgb, path, shape):
    return object_fashion(grey(rgb), path, size=shape[0])[..., None] * 255.0


#: dataset name -> fn(rgb, path, input_shape) -> stored values (H, W, C) float. Others: :func:`resized`.
RECIPES = {"mnist": _mnist, "digits": _digits, "fashion-mnist": _fashion}

#: one line per recipe, for --help and the docs
RECIPE_DOCS = {"mnist": "MNIST: grey, invert paper, remove uneven lighting, threshold, crop, 20x20 box, "
                        "centre of mass in 28x28",
               "digits": "scikit-learn digits: as MNIST, fitted into 32x32, 4x4 block counts (0..16)",
               "fashion-mnist": "Fashion-MNIST: crop the object, longest side 28, negate",
               "other": "pad to a square with the border colour, resize to the input size"}


def prepare_file(path, dataset: str, input_shape: tuple[int, ...], max_value: float | None) -> Prepared:
    """Read an image file and bring it into ``dataset``'s stored form (uint8)."""
    if len(input_shape) != 3:
        raise ImageError(f"{path}: the model's data ({dataset}) are not images (input {tuple(input_shape)})")
    rgb = read_image(path)
    recipe = RECIPES.get(dataset)
    x = recipe(rgb, path, input_shape) if recipe else resized(rgb, input_shape)
    top = max_value or 255
    return Prepared(Path(path), rgb, np.clip(np.round(x), 0, top).astype(np.uint8))


def side_by_side(prep: Prepared, max_value: float | None, height: int = 224):
    """A PIL image: the original (scaled to ``height``) beside the network's input
    (nearest-neighbour enlarged, so its pixels stay visible)."""
    from PIL import Image

    orig = Image.fromarray(prep.original)
    w = max(1, round(orig.width * height / orig.height))
    orig = orig.resize((w, height), Image.Resampling.LANCZOS)
    x = prep.x.astype(np.float64) * (255.0 / (max_value or 255))
    small = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8).squeeze(-1) if x.shape[-1] == 1
                            else np.clip(x, 0, 255).astype(np.uint8))
    small = small.convert("RGB").resize((height, height), Image.Resampling.NEAREST)
    gap = 16
    out = Image.new("RGB", (w + gap + height, height), (255, 255, 255))
    out.paste(orig, (0, 0))
    out.paste(small, (w + gap, 0))
    return out
