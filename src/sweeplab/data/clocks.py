"""Analog clock faces for the "tell the time" task (seed report 004).

Each image is a grayscale clock face with an hour hand (short, thick) and a
minute hand (long, thin). Variety per image: face rotation (uniform in
+-``rotation`` degrees; a double-width tick always marks 12 o'clock so the time
stays readable), centre offset, face radius, hand lengths and widths, outline
width (or no outline), tick style (none / 4 / 12 / 12 + 60 minute ticks), ink and
background levels, and Gaussian pixel noise (std uniform in 0..``noise``).

Angles are clockwise from 12 o'clock. The hour hand points at
``30 deg * (hour + minute / 60)``, the minute hand at ``6 deg * minute``; the face
rotation is added to both. Rendering is vectorised over batches of images
(anti-aliased distance fields), no per-pixel Python loop.
"""

from __future__ import annotations

import numpy as np

VERSION = 1  # bump when the renderer changes: the cache key includes it

TICK_STYLES = ("none", "quarters", "hours", "minutes")


def draw_params(n: int, size: int, rng: np.random.Generator, rotation: float = 30.0,
                noise: float = 10.0) -> dict[str, np.ndarray]:
    """Random labels and appearance parameters for ``n`` clocks (all in pixels/radians)."""
    s = float(size)
    R = rng.uniform(0.34, 0.42, n) * s
    p = {
        "hour": rng.integers(0, 12, n),
        "minute": rng.integers(0, 60, n),
        "cx": s / 2 - 0.5 + rng.uniform(-0.06, 0.06, n) * s,
        "cy": s / 2 - 0.5 + rng.uniform(-0.06, 0.06, n) * s,
        "radius": R,
        "rotation": np.deg2rad(rng.uniform(-rotation, rotation, n)),
        "hour_len": rng.uniform(0.40, 0.55, n) * R,
        "minute_len": rng.uniform(0.66, 0.76, n) * R,
        "hour_hw": rng.uniform(0.018, 0.032, n) * s,
        "minute_hw": rng.uniform(0.006, 0.014, n) * s,
        "ring_hw": np.where(rng.random(n) < 0.8, rng.uniform(0.004, 0.016, n) * s, -1.0),
        "tick_style": rng.integers(0, 4, n),
        "tick_len": rng.uniform(0.08, 0.15, n) * R,
        "tick_hw": rng.uniform(0.005, 0.012, n) * s,
        "ink": rng.uniform(0, 60, n),
        "background": rng.uniform(190, 255, n),
        "noise": rng.uniform(0, noise, n) if noise > 0 else np.zeros(n),
    }
    return p


def _seg_cover(dx, dy, ux, uy, length, hw):
    """Coverage (0..1) of a segment from the centre along unit (ux, uy)."""
    t = np.clip(dx * ux + dy * uy, 0.0, length)
    d = np.hypot(dx - t * ux, dy - t * uy)
    return np.clip(hw + 0.5 - d, 0.0, 1.0)


def _tick_cover(r, theta, count, r_in, r_out, hw):
    step = 2 * np.pi / count
    delta = theta - np.round(theta / step) * step
    d = r * np.abs(np.sin(delta))
    radial = np.clip(np.minimum(r - r_in, r_out - r) + 0.5, 0.0, 1.0)
    return np.clip(hw + 0.5 - d, 0.0, 1.0) * radial * (np.cos(delta) > 0)


def _render_batch(params, sl, size, xx, yy, noise_seed):
    f32 = lambda k: params[k][sl].astype(np.float32)[:, None, None]  # noqa: E731
    dx = xx[None] - f32("cx")
    dy = yy[None] - f32("cy")
    r = np.hypot(dx, dy)
    rot = f32("rotation")
    R = f32("radius")
    h = params["hour"][sl].astype(np.float32)
    m = params["minute"][sl].astype(np.float32)
    a_h = (2 * np.pi * (h + m / 60.0) / 12.0)[:, None, None] + rot
    a_m = (2 * np.pi * m / 60.0)[:, None, None] + rot
    ink = _seg_cover(dx, dy, np.sin(a_h), -np.cos(a_h), f32("hour_len"), f32("hour_hw"))
    np.maximum(ink, _seg_cover(dx, dy, np.sin(a_m), -np.cos(a_m), f32("minute_len"),
                               f32("minute_hw")), out=ink)
    np.maximum(ink, np.clip(f32("hour_hw") * 1.3 + 0.5 - r, 0, 1), out=ink)  # hub
    np.maximum(ink, np.clip(f32("ring_hw") + 0.5 - np.abs(r - R), 0, 1), out=ink)
    theta = np.arctan2(dx, -dy)
    theta -= rot  # clockwise from the face's 12 o'clock
    r_out = 0.95 * R
    t_len, t_hw = f32("tick_len"), f32("tick_hw")
    np.maximum(ink, _tick_cover(r, theta, 1, r_out - 1.2 * t_len, r_out, 2.2 * t_hw), out=ink)
    style = params["tick_style"][sl]
    for count, sel, k_len, k_hw in ((4, style == 1, 1.0, 1.0), (12, style >= 2, 1.0, 1.0),
                                    (60, style == 3, 0.45, 0.6)):
        idx = np.nonzero(sel)[0]
        if idx.size == 0:
            continue
        c = _tick_cover(r[idx], theta[idx], count, r_out[idx] - k_len * t_len[idx], r_out[idx],
                        k_hw * t_hw[idx])
        ink[idx] = np.maximum(ink[idx], c)
    bg, fg = f32("background"), f32("ink")
    img = bg + (fg - bg) * ink
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        img += rng.standard_normal(img.shape, dtype=np.float32) * f32("noise")
    np.clip(np.rint(img), 0, 255, out=img)
    return img.astype(np.uint8)


def render(params: dict[str, np.ndarray], size: int, noise_seed: int | None = None,
           batch: int = 64, workers: int | None = None) -> np.ndarray:
    """Render clocks described by ``params`` into uint8 images (N, size, size).

    Batches run on a thread pool (numpy releases the GIL); each batch draws its
    pixel noise from its own child seed, so the result does not depend on ``workers``.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    n = len(params["hour"])
    out = np.empty((n, size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    starts = list(range(0, n, batch))
    seeds = (np.random.SeedSequence(noise_seed).spawn(len(starts)) if noise_seed is not None
             else [None] * len(starts))

    def job(i):
        sl = slice(starts[i], min(n, starts[i] + batch))
        out[sl] = _render_batch(params, sl, size, xx, yy, seeds[i])

    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(starts) <= 1:
        for i in range(len(starts)):
            job(i)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(job, range(len(starts))))
    return out


def generate(n_images: int = 18000, size: int = 150, seed: int = 0, rotation: float = 30.0,
             noise: float = 10.0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Images uint8 (N, size, size, 1), labels int64 (N, 2) = [hour, minute], params."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4004]))
    p = draw_params(int(n_images), int(size), rng, rotation=rotation, noise=noise)
    x = render(p, int(size), noise_seed=int(rng.integers(2**63)))
    y = np.stack([p["hour"], p["minute"]], 1).astype(np.int64)
    return x[..., None], y, p
