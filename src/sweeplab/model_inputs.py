"""Checking a trained model's inputs and bringing them into the network's input space.

Inputs: raw or prepared
-----------------------
The model applies the training run's own preprocessing (pixel permutation,
scaling, normalisation statistics). Which form ``x`` is in is decided by its
dtype, never guessed from its values:

* integer dtypes (``uint8`` as Keras gives MNIST) are **raw** stored values
  (0..255; 0..16 for ``digits``), in the dataset's pixel order;
* floating dtypes are **prepared** inputs, exactly what the network saw in
  training (what ``sweeplab.data.prepare`` returns). For a run with the default
  ``normalize = "unit"`` and no ``permute_pixels`` that is ``x / 255``;
* feature tables (``synthetic2d``) are stored as floats: their arrays are raw
  unless ``raw=False``;
* ``raw=True`` says floats are raw values (e.g. 0.0..255.0); ``raw=False`` says
  integers are prepared. Floats far outside the range the network was trained on
  (e.g. 0.0..255.0 for a ``/ 255`` model) are still taken as prepared, with a
  :class:`RawLookingInputWarning`.

Image shapes: ``(n, H, W, C)``, ``(n, H, W)`` when ``C == 1``, or flat ``(n, H*W*C)``.
A shape, dtype or value range that cannot be right raises :class:`ModelInputError`
(a ``ValueError``) with a one-line message.
"""

from __future__ import annotations

from sweeplab.errors import UserError

import numpy as np

from sweeplab.preprocessing import Preprocessing


class ModelInputError(UserError):
    """Input that a trained model cannot take (shape, dtype, values); one line."""


def shape_text(s) -> str:
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def describe(pre: Preprocessing) -> str:
    """One line: what is done to raw values (for summaries and the CLI)."""
    parts = []
    if pre.permutation is not None:
        parts.append("fixed pixel permutation")
    if pre.is_image:
        if pre.normalize == "unit":
            parts.append(f"x / {pre.max_value:g}")
        elif pre.normalize == "standardize":
            mean = -pre.offset / pre.scale
            parts.append(f"(x - {mean:.4g}) / {1 / pre.scale:.4g}")
        else:
            parts.append("none (raw values)")
    else:
        parts.append(f"{pre.normalize} per feature" if pre.normalize != "none" else "none (raw values)")
    return ", then ".join(parts)


def prepare_input(pre: Preprocessing, x, *, raw: bool | None = None) -> np.ndarray:
    """Check ``x`` and bring it into the network's input space (see the module doc)."""
    x = np.asarray(x)
    if x.dtype == bool or x.dtype.kind not in "iuf":
        raise ModelInputError(f"x: dtype {x.dtype}: expected integer raw values (uint8 0..255 for 8-bit "
                              "images) or floats")
    shape = tuple(pre.input_shape)
    flat = int(np.prod(shape))
    accepted = [shape] + ([shape[:2]] if len(shape) == 3 and shape[2] == 1 else []) + \
        ([(flat,)] if len(shape) > 1 else [])
    if x.ndim >= 1 and tuple(x.shape[1:]) in accepted:
        x = x.reshape((len(x), *shape))
    else:
        forms = ", ".join(shape_text(("n", *s)) for s in accepted)
        hint = " (one example: add a batch axis, x[None])" if tuple(x.shape) in accepted else ""
        raise ModelInputError(f"x: shape {shape_text(x.shape)}: expected {forms} for this {pre.dataset} "
                              f"model{hint}")
    if raw is None:  # images are stored as integers; feature tables as floats (always raw by default)
        raw = x.dtype.kind in "iu" if pre.is_image else True
    is_raw = bool(raw)
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise ModelInputError("x: contains NaN or infinite values")
    if not is_raw:
        _warn_if_raw_looking(pre, x)
        return x.astype(np.float32)
    if pre.max_value is not None and x.size:
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > pre.max_value:
            kind = "integers" if x.dtype.kind in "iu" else "raw=True floats"
            raise ModelInputError(f"x: raw values {lo:g}..{hi:g}: {pre.dataset} stores 0..{pre.max_value:g} "
                                  f"(these are {kind}; prepared floats are taken as they are: pass floats, "
                                  "or raw=False)")
    return pre.apply(x)


class RawLookingInputWarning(UserWarning):
    """Prepared (float) inputs far outside the range the network was trained on."""


def _warn_if_raw_looking(pre: Preprocessing, x: np.ndarray) -> None:
    """Floats are prepared inputs (never re-interpreted); say so when they lie far outside
    what the training run fed the network, the usual sign of raw pixels passed as floats."""
    import warnings

    if pre.max_value is None or not pre.is_image or not x.size:
        return
    ends = sorted((pre.offset, pre.max_value * pre.scale + pre.offset))
    span = ends[1] - ends[0]
    lo, hi = float(x.min()), float(x.max())
    if hi > ends[1] + span or lo < ends[0] - span:
        warnings.warn(f"x: float values {lo:g}..{hi:g} are taken as prepared inputs, but the network was "
                      f"trained on {ends[0]:.3g}..{ends[1]:.3g}; raw pixel values? pass raw=True (or uint8)",
                      RawLookingInputWarning, stacklevel=4)
