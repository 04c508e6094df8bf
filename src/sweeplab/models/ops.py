"""Convolution and pooling primitives with a fast CPU path.

Layouts follow Keras: activations are NHWC, conv kernels are HWIO
(``kh, kw, in_channels, out_channels``).

Why this module exists
----------------------
XLA's CPU backend lowers ``lax.conv_general_dilated`` and, above all, its
*gradients* (transposed convolutions) and the gradient of
``lax.reduce_window`` max (``select_and_scatter``) to slow generic loops.
Training is forward + backward, so what matters is the cost of the backward
pass.  On CPU we therefore write:

* ``conv2d(impl="shifted")``: ``y = sum_{i,j} x[:, i::s, j::s, :] @ w[i, j]``
  -- one strided slice and one matmul per kernel tap.  The backward pass is
  matmuls plus pads (the transpose of a slice), which XLA CPU does well.
* ``conv2d(impl="patches")``: the same slices concatenated along channels
  (im2col) and multiplied by ``w.reshape(kh*kw*cin, cout)`` -- one big matmul.
* ``max_pool2d`` / ``avg_pool2d`` with ``strides == pool_size``: crop (valid)
  or pad (same) to a multiple of the pool, reshape, then ``max``/``mean``
  (impl "reshape").  Otherwise (impl "shifted") the max (or sum) over the
  ``ph*pw`` strided shifted slices; for max with a custom VJP that routes the
  gradient with ``where`` + pad instead of ``select_and_scatter``.

``impl="xla"`` keeps ``lax.conv_general_dilated`` / ``lax.reduce_window``,
which is what ``impl="auto"`` picks off CPU.  On CPU "auto" picks conv
"shifted" when Cin == 1 and "patches" otherwise, and pool "reshape" when
``strides == pool_size`` else "shifted".  See ``benchmarks/conv_ops.py`` and
``benchmarks/cnn_parts.py``.

All functions are pure ``jax.numpy``/``lax`` code: they work under ``jax.jit``,
``jax.grad`` and ``jax.vmap`` (e.g. a leading trial axis on ``w``/``b``, with
``x`` batched per trial or shared).

Max-pool ties
-------------
The forward value is identical for every impl.  Gradients differ only where a
window holds several equal maxima (MNIST's saturated strokes give exact ties
after a conv + ReLU: ~0.6 % of the seed CNN's pool windows have a positive tie):

* "xla" (``reduce_window`` -> ``select_and_scatter`` with a ``ge`` select) and
  "shifted" (custom VJP) send the whole gradient to the *first* maximal element
  of the window in row-major order, like TensorFlow and Keras 3 (on JAX,
  Keras's max-pool is that same ``reduce_window``);
* "reshape" (``jnp.max`` over the window axes) splits it *equally* among the
  tied maxima (JAX's ``reduce_max`` rule).  The total is the same.

"auto" on CPU picks "reshape" when ``strides == pool_size`` (the fastest in the
compiled seed-CNN step), so CPU runs split ties; "shifted" gives Keras's rule
(bitwise equal to "xla" in a whole seed-CNN epoch) at 1.42x the step time there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sweeplab._lazy import lazy  # JAX loads on first use: validation does not need it
jax = lazy("jax")
jnp = lazy("jax.numpy")
lax = lazy("jax.lax")

__all__ = [
    "CONV_IMPLS",
    "POOL_IMPLS",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "conv_output_shape",
    "pool_output_shape",
    "same_padding",
    "resolve_conv_impl",
    "resolve_pool_impl",
]

CONV_IMPLS = ("auto", "xla", "shifted", "patches")
POOL_IMPLS = ("auto", "xla", "reshape", "shifted")

_PADDINGS = ("valid", "same")


# ----------------------------------------------------------------------------
# Shape helpers
# ----------------------------------------------------------------------------
def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(e) for e in v)
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return t  # type: ignore[return-value]


def _check_padding(padding: str) -> str:
    p = str(padding).lower()
    if p not in _PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return p


def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow/Keras "same" padding (before, after) for one spatial axis.

    ``out = ceil(size / stride)``; ``total = max((out - 1) * stride + window -
    size, 0)``; the extra pixel of an odd total goes *after* (bottom/right).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _out_size(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    if size < window:
        return 0
    return (size - window) // stride + 1


def conv_output_shape(
    in_hw: Sequence[int],
    kernel: int | Sequence[int],
    strides: int | Sequence[int] = (1, 1),
    padding: str = "valid",
) -> tuple[int, int]:
    """Spatial output shape ``(H_out, W_out)`` of a Keras Conv2D."""
    padding = _check_padding(padding)
    h, w = (int(v) for v in in_hw)
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(strides, "strides")
    return _out_size(h, kh, sh, padding), _out_size(w, kw, sw, padding)


def pool_output_shape(
    in_hw: Sequence[int],
    pool_size: int | Sequence[int] = (2, 2),
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
) -> tuple[int, int]:
    """Spatial output shape ``(H_out, W_out)`` of a Keras MaxPool2D/AvgPool2D."""
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), "strides")
    return conv_output_shape(in_hw, (ph, pw), (sh, sw), padding)


def _pads(hw, window, strides, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    if padding == "valid":
        return (0, 0), (0, 0)
    return (
        same_padding(hw[0], window[0], strides[0]),
        same_padding(hw[1], window[1], strides[1]),
    )


# ----------------------------------------------------------------------------
# Implementation choice
# ----------------------------------------------------------------------------
def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def resolve_conv_impl(impl: str = "auto", in_channels: int | None = None) -> str:
    """The concrete conv implementation ``impl`` stands for on this backend.

    "auto": "xla" off CPU; on CPU "shifted" for single-channel input (the
    seed CNN's first layer, where it measured ~10% faster than "patches" end
    to end) and "patches" otherwise (one big matmul: clearly fastest once
    Cin > 1 and the input gradient is needed).  See benchmarks/conv_ops.py.
    """
    if impl not in CONV_IMPLS:
        raise ValueError(f"impl must be one of {CONV_IMPLS}, got {impl!r}")
    if impl == "auto":
        if not _on_cpu():
            return "xla"
        return "shifted" if in_channels == 1 else "patches"
    return impl


def resolve_pool_impl(
    impl: str, pool_size: tuple[int, int], strides: tuple[int, int]
) -> str:
    """Concrete pool implementation: "reshape" needs ``strides == pool_size``.

    "auto" on CPU: "reshape" when ``strides == pool_size`` else "shifted". (For
    max, "shifted" routes tied gradients like Keras and is bitwise equal to
    "xla" in a whole epoch of the seed CNN, but made that epoch 1.42x slower
    than "reshape": see benchmarks/README.md, 2026-12-01b.)
    """
    if impl not in POOL_IMPLS:
        raise ValueError(f"impl must be one of {POOL_IMPLS}, got {impl!r}")
    if impl == "auto":
        if not _on_cpu():
            return "xla"
        return "reshape" if tuple(strides) == tuple(pool_size) else "shifted"
    if impl == "reshape" and tuple(strides) != tuple(pool_size):
        raise ValueError(
            "impl='reshape' requires strides == pool_size, got "
            f"pool_size={pool_size}, strides={strides}"
        )
    return impl


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------
def _tap(x, i: int, j: int, ho: int, wo: int, sh: int, sw: int):
    """x[:, i : i + sh*ho : sh, j : j + sw*wo : sw, :] as a static strided slice."""
    n, _, _, c = x.shape
    return lax.slice(
        x,
        (0, i, j, 0),
        (n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, c),
        (1, sh, sw, 1),
    )


def _conv_shifted(x, w, ho, wo, sh, sw):
    kh, kw, cin, _ = w.shape
    y = None
    for i in range(kh):
        for j in range(kw):
            xs = _tap(x, i, j, ho, wo, sh, sw)
            # Even for cin == 1 a (K=1) dot beats a broadcast multiply: the
            # broadcast version's backward is reductions, ~5x slower under vmap.
            t = lax.dot_general(xs, w[i, j], (((3,), (0,)), ((), ())))
            y = t if y is None else y + t
    return y


def _conv_patches(x, w, ho, wo, sh, sw):
    kh, kw, cin, cout = w.shape
    taps = [_tap(x, i, j, ho, wo, sh, sw) for i in range(kh) for j in range(kw)]
    patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
    # patches[..., (i*kw + j)*cin + c] == x[.., i, j, c]  <->  w.reshape order.
    return lax.dot_general(
        patches, w.reshape(kh * kw * cin, cout), (((3,), (0,)), ((), ()))
    )


def conv2d(
    x,
    w,
    b=None,
    *,
    strides: int | Sequence[int] = (1, 1),
    padding: str = "valid",
    impl: str = "auto",
):
    """Keras ``Conv2D`` forward: ``x`` (N, H, W, Cin), ``w`` (kh, kw, Cin, Cout).

    ``padding`` is "valid" or "same" (TF semantics: output ``ceil(H / s)``,
    extra padding pixel bottom/right).  ``impl``: "auto" ("shifted" on CPU,
    "xla" elsewhere), "xla", "shifted" or "patches".  Returns (N, Ho, Wo, Cout).
    """
    padding = _check_padding(padding)
    sh, sw = _pair(strides, "strides")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d expects x NHWC and w HWIO (4-D), got {x.shape} and {w.shape}"
        )
    kh, kw, cin, cout = w.shape
    if x.shape[-1] != cin:
        raise ValueError(f"x has {x.shape[-1]} channels but w expects {cin}")
    impl = resolve_conv_impl(impl, cin)
    (pt, pb), (pl, pr) = _pads(x.shape[1:3], (kh, kw), (sh, sw), padding)

    if impl == "xla":
        y = lax.conv_general_dilated(
            x,
            w,
            window_strides=(sh, sw),
            padding=((pt, pb), (pl, pr)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
    else:
        if pt or pb or pl or pr:
            x = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        hp, wp = x.shape[1], x.shape[2]
        ho, wo = _out_size(hp, kh, sh, "valid"), _out_size(wp, kw, sw, "valid")
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"conv2d: kernel {(kh, kw)} larger than padded input {(hp, wp)}"
            )
        fn = _conv_shifted if impl == "shifted" else _conv_patches
        y = fn(x, w, ho, wo, sh, sw)
    if b is not None:
        y = y + b.reshape(1, 1, 1, -1)  # explicit: no silent rank promotion
    return y


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------
def _pool_args(pool_size, strides, padding):
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), "strides")
    return (ph, pw), (sh, sw), _check_padding(padding)


def _untap(g, i: int, j: int, hw: tuple[int, int], sh: int, sw: int):
    """Transpose of :func:`_tap`: put g back at its strided positions, zeros elsewhere."""
    ho, wo = g.shape[1], g.shape[2]
    h, w = hw
    zero = jnp.zeros((), g.dtype)
    return lax.pad(
        g,
        zero,
        (
            (0, 0, 0),
            (i, h - i - (ho - 1) * sh - 1, sh - 1),
            (j, w - j - (wo - 1) * sw - 1, sw - 1),
            (0, 0, 0),
        ),
    )


def _max_pool_shifted(x, window, strides):
    """Max over the ph*pw strided shifted slices (x already padded, "valid").

    Forward: a chain of elementwise maxima (NaN-propagating like lax.max).
    Backward: each output's gradient goes to the *first* tap (row-major order
    in the window) equal to the max, like TensorFlow; ties are not split.
    """
    return _custom_vjp(_max_pool_shifted_fwd, _max_pool_shifted_bwd)(x, window, strides)


@functools.cache
def _custom_vjp(fwd, bwd):
    """``jax.custom_vjp`` of ``fwd(x, window, strides) -> (y, residuals)`` (window, strides static),
    made on first use so that importing this module does not import JAX."""
    f = jax.custom_vjp(lambda x, window, strides: fwd(x, window, strides)[0], nondiff_argnums=(1, 2))
    f.defvjp(fwd, bwd)
    return f


def _max_pool_shifted_fwd(x, window, strides):
    ho, wo = _out_size(x.shape[1], window[0], strides[0], "valid"), _out_size(
        x.shape[2], window[1], strides[1], "valid"
    )
    m = None
    for i in range(window[0]):
        for j in range(window[1]):
            t = _tap(x, i, j, ho, wo, *strides)
            m = t if m is None else jnp.maximum(m, t)
    return m, (x, m)


def _max_pool_shifted_bwd(window, strides, res, g):
    x, m = res
    ho, wo = m.shape[1], m.shape[2]
    hw = (x.shape[1], x.shape[2])
    found = None
    dx = None
    for i in range(window[0]):
        for j in range(window[1]):
            hit = _tap(x, i, j, ho, wo, *strides) == m
            if found is None:
                found = hit
            else:
                hit = hit & ~found
                found = found | hit
            d = _untap(jnp.where(hit, g, jnp.zeros((), g.dtype)), i, j, hw, *strides)
            dx = d if dx is None else dx + d
    return (dx,)


def _reshape_windows(x, window, ho, wo):
    """(N, Ho, ph, Wo, pw, C) view of x cropped to (Ho*ph, Wo*pw)."""
    n, _, _, c = x.shape
    ph, pw = window
    x = x[:, : ho * ph, : wo * pw, :]
    return x.reshape(n, ho, ph, wo, pw, c)


@dataclass(frozen=True)
class _PoolGeometry:
    """The static facts of one pooling call (all Python ints, known at trace time)."""

    window: tuple[int, int]
    strides: tuple[int, int]
    impl: str
    hw: tuple[int, int]
    out: tuple[int, int]
    pads4: tuple[tuple[int, int], ...]

    @property
    def padded(self) -> bool:
        return any(a or b for a, b in self.pads4)


def _pool_geometry(x, pool_size, strides, padding, impl) -> _PoolGeometry:
    window, strd, padding = _pool_args(pool_size, strides, padding)
    impl = resolve_pool_impl(impl, window, strd)
    if x.ndim != 4:
        raise ValueError(f"pooling expects NHWC (4-D) input, got shape {x.shape}")
    hw = tuple(x.shape[1:3])
    (pt, pb), (pl, pr) = _pads(hw, window, strd, padding)
    ho, wo = conv_output_shape(hw, window, strd, padding)
    if ho <= 0 or wo <= 0:
        raise ValueError(f"pool window {window} larger than input {hw}")
    return _PoolGeometry(window, strd, impl, hw, (ho, wo), ((0, 0), (pt, pb), (pl, pr), (0, 0)))


def _max_pool(x, g: _PoolGeometry):
    init = -np.inf if jnp.issubdtype(x.dtype, jnp.floating) else int(jnp.iinfo(x.dtype).min)
    if g.impl == "xla":
        # A Python-scalar identity init lets JAX recognise the monoid and
        # use reduce_window_max (differentiable via select_and_scatter).
        return lax.reduce_window(x, init, lax.max, (1, *g.window, 1), (1, *g.strides, 1), g.pads4)
    if g.padded:
        x = jnp.pad(x, g.pads4, constant_values=init)
    if g.impl == "reshape":
        return jnp.max(_reshape_windows(x, g.window, *g.out), axis=(2, 4))
    return _max_pool_shifted(x, g.window, g.strides)


def _avg_divisor(g: _PoolGeometry, dtype):
    """TF/Keras "same": padded cells are excluded from the divisor, so divide the
    window sum by the count of real cells (a static array computed with numpy)."""
    if not g.padded:
        return g.window[0] * g.window[1]
    (ho, wo), (sh, sw) = g.out, g.strides
    ones = np.pad(np.ones(g.hw, np.float32), g.pads4[1:3])
    if g.impl == "reshape":
        counts = _reshape_windows(ones[None, :, :, None], g.window, ho, wo).sum(axis=(2, 4))
    else:
        taps = [ones[i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw]
                for i in range(g.window[0]) for j in range(g.window[1])]
        counts = np.stack(taps, axis=-1).sum(-1)[None, :, :, None]
    return jnp.asarray(counts, dtype)


def _avg_pool(x, g: _PoolGeometry):
    divisor = _avg_divisor(g, x.dtype)
    if g.impl == "xla":
        return lax.reduce_window(x, 0.0, lax.add, (1, *g.window, 1), (1, *g.strides, 1), g.pads4) / divisor
    if g.padded:
        x = jnp.pad(x, g.pads4)
    if g.impl == "reshape":
        return jnp.sum(_reshape_windows(x, g.window, *g.out), axis=(2, 4)) / divisor
    s = None
    for i in range(g.window[0]):
        for j in range(g.window[1]):
            t = _tap(x, i, j, *g.out, *g.strides)
            s = t if s is None else s + t
    return s / divisor


def max_pool2d(
    x,
    pool_size: int | Sequence[int] = (2, 2),
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    impl: str = "auto",
):
    """Keras ``MaxPooling2D`` on NHWC ``x`` (strides default to ``pool_size``).

    impl: "auto" (CPU: "reshape" when strides == pool_size else "shifted";
    elsewhere "xla"), "xla" (``lax.reduce_window``), "reshape", "shifted".
    Gradient ties: "xla"/"shifted" route a window's gradient to its first
    maximum like TF/Keras; "reshape" splits it equally among tied maxima (see
    module docstring).
    """
    return _max_pool(x, _pool_geometry(x, pool_size, strides, padding, impl))


def avg_pool2d(
    x,
    pool_size: int | Sequence[int] = (2, 2),
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    impl: str = "auto",
):
    """Keras ``AveragePooling2D`` on NHWC ``x``; "same" excludes padding from
    the divisor (TF semantics).  impl as for :func:`max_pool2d`."""
    return _avg_pool(x, _pool_geometry(x, pool_size, strides, padding, impl))
