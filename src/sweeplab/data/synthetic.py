"""Synthetic 2-D binary datasets.

f1, f2, f3 are the labelling functions of seed report 002, exactly as printed there,
applied to points drawn uniformly in the box [-box, box]^2 (default box = 50: the
thresholds of f1 (-20, -40, 40) and the amplitude 50 of f3 imply coordinates of
order +-50, and cos(|x| / 2pi) then shows about five rings, as in the report's Fig. 1).
moons, circles, xor and spirals are the usual toy problems at their usual unit scale.

``noise`` is the standard deviation of Gaussian noise added to the coordinates
*after* labelling (as in scikit-learn's make_moons): labels stay those of the clean
points, so noise > 0 blurs the class boundary.
"""

from __future__ import annotations

import numpy as np

FUNCTIONS = ("f1", "f2", "f3", "moons", "circles", "xor", "spirals")


def f1(x: np.ndarray) -> np.ndarray:
    """Triangle: 1 if x0 > -20 and x1 > -40 and x0 + x1 < 40."""
    x0, x1 = x[..., 0], x[..., 1]
    return ((x0 > -20) & (x1 > -40) & (x0 + x1 < 40)).astype(np.int64)


def f2(x: np.ndarray) -> np.ndarray:
    """Sinusoidal clusters: 1 if sgn(x0 + x1) * sgn(x0) * cos(|x| / (2 pi)) > 0."""
    s = np.sign(x.sum(-1)) * np.sign(x[..., 0]) * np.cos(np.linalg.norm(x, axis=-1) / (2 * np.pi))
    return (s > 0).astype(np.int64)


def f3(x: np.ndarray) -> np.ndarray:
    """Gaussian: 1 if x1 < 50 exp(-x0^2 / 50)."""
    return (x[..., 1] < 50.0 * np.exp(-x[..., 0] ** 2 / 50.0)).astype(np.int64)


LABELLERS = {"f1": f1, "f2": f2, "f3": f3}


def generate(function: str = "f1", n_samples: int = 4000, noise: float = 0.0,
             seed: int = 0, box: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` points and labels; float32 (N, 2) and int64 (N,) in {0, 1}."""
    if function not in FUNCTIONS:
        raise ValueError(f"synthetic2d: unknown function {function!r}; accepted: {', '.join(FUNCTIONS)}")
    n = int(n_samples)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), FUNCTIONS.index(function)]))
    if function in LABELLERS:
        # label the float32 points that are returned, so labels match the formulas exactly
        x = rng.uniform(-box, box, size=(n, 2)).astype(np.float32).astype(np.float64)
        y = LABELLERS[function](x)
    elif function == "moons":
        y = (np.arange(n) >= (n + 1) // 2).astype(np.int64)
        t = rng.uniform(0, np.pi, n)
        x = np.where(y[:, None] == 0,
                     np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    elif function == "circles":
        y = (np.arange(n) >= (n + 1) // 2).astype(np.int64)  # 1 = inner circle
        t = rng.uniform(0, 2 * np.pi, n)
        r = np.where(y == 1, 0.5, 1.0)
        x = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    elif function == "xor":
        x = rng.uniform(-1, 1, size=(n, 2))
        y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    else:  # spirals: two interleaved arms, 1.5 turns each
        y = (np.arange(n) >= (n + 1) // 2).astype(np.int64)
        u = rng.uniform(0, 1, n)
        theta = np.sqrt(u) * 3 * np.pi
        r = theta / (3 * np.pi)
        x = np.stack([r * np.cos(theta + np.pi * y), r * np.sin(theta + np.pi * y)], 1)
    perm = rng.permutation(n)
    if noise:
        x = x + rng.normal(0.0, float(noise), size=x.shape)
    return x[perm].astype(np.float32), y[perm]
