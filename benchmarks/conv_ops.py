"""Benchmark sweeplab.models.ops conv/pool implementations (forward + backward).

Usage:
    .venv/bin/python benchmarks/conv_ops.py [--reps 200] [--trials 4]

Measures, in one process, the median milliseconds of one jitted
forward+backward step at batch 32 for

* ``conv1``: the seed CNN's first layer -- Conv2D(28, 3x3, valid) on 28x28x1,
  gradient w.r.t. (w, b) as in training (x is data, no input gradient);
* ``conv1+dx``: the same layer, gradient w.r.t. x as well (as for any
  layer that is not the first);
* ``conv_mid``: a 13x13x28 -> 32 filters 3x3 "same" conv, grads w.r.t. x and w
  (a typical second conv layer, Cin > 1);
* ``seed_cnn``: the whole seed CNN (conv impl / pool impl: xla/xla,
  shifted/reshape (= "auto" on CPU), patches/reshape, shifted/shifted) (conv 28 3x3 relu -> max-pool 2x2 -> flatten
  -> dense 128 relu -> dropout 0.2 -> dense 10, softmax cross-entropy),
  gradient w.r.t. all parameters (plain ``jax.grad``, no optimiser);
* ``seed_cnn_vmapT``: the seed CNN vmapped over ``--trials`` trials (leading
  trial axis on every parameter, shared data batch), as the engine runs it;
* ``maxpool``: max-pool 2x2 of a (32, 26, 26, 28) activation, input gradient.

Each impl side by side, with the ratio ``impl / xla`` (below 1 = faster than
XLA).  Writes ``benchmarks/results/conv_ops.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from sweeplab.models import ops

BATCH = 32


def _time_case(impls: dict, reps: int, rounds: int = 10) -> dict[str, float]:
    """Median ms per call of each jitted ``fn(*args)`` in ``impls``.

    Impls are interleaved round-robin (``rounds`` rounds of ``reps/rounds``
    calls each) so that machine-load drift hits all of them alike.
    """
    samples: dict[str, list[float]] = {k: [] for k in impls}
    for fn, fargs in impls.values():
        for _ in range(5):  # compile + warm up
            jax.block_until_ready(fn(*fargs))
    per_round = max(1, reps // rounds)
    for _ in range(rounds):
        for k, (fn, fargs) in impls.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*fargs))
                samples[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}


def _init_cnn(key, impl_unused=None):
    k1, k2, k3 = jax.random.split(key, 3)
    he = lambda k, shape, fan_in: jax.random.normal(k, shape) * np.sqrt(2.0 / fan_in)
    ho, wo = ops.conv_output_shape((28, 28), 3, 1, "valid")
    ph, pw = ops.pool_output_shape((ho, wo), 2)
    flat = ph * pw * 28
    return {
        "conv_w": he(k1, (3, 3, 1, 28), 9),
        "conv_b": jnp.zeros((28,)),
        "d1_w": he(k2, (flat, 128), flat),
        "d1_b": jnp.zeros((128,)),
        "d2_w": he(k3, (128, 10), 128),
        "d2_b": jnp.zeros((10,)),
    }


def _cnn_loss(params, x, y, key, conv_impl, pool_impl):
    h = jax.nn.relu(ops.conv2d(x, params["conv_w"], params["conv_b"], impl=conv_impl))
    h = ops.max_pool2d(h, 2, impl=pool_impl)
    h = h.reshape(h.shape[0], -1)
    h = jax.nn.relu(h @ params["d1_w"] + params["d1_b"])
    keep = jax.random.bernoulli(key, 0.8, h.shape)
    h = jnp.where(keep, h / 0.8, 0.0)
    logits = h @ params["d2_w"] + params["d2_b"]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "conv_ops.json")
    )
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    x1 = jnp.asarray(rng.random((BATCH, 28, 28, 1), np.float32))
    w1 = jnp.asarray(rng.normal(size=(3, 3, 1, 28)).astype(np.float32) / 3)
    b1 = jnp.zeros((28,), jnp.float32)
    xm = jnp.asarray(rng.normal(size=(BATCH, 13, 13, 28)).astype(np.float32))
    wm = jnp.asarray(rng.normal(size=(3, 3, 28, 32)).astype(np.float32) / 15)
    hp = jnp.asarray(rng.normal(size=(BATCH, 26, 26, 28)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 10, BATCH))
    params = _init_cnn(key)
    T = args.trials
    params_T = jax.vmap(_init_cnn)(jax.random.split(key, T))

    conv_impls = ["xla", "shifted", "patches"]
    cases: dict[str, dict[str, tuple]] = {}

    for impl in conv_impls:
        f = jax.jit(jax.grad(
            lambda w, b, impl=impl: jnp.sum(ops.conv2d(x1, w, b, impl=impl) ** 2),
            argnums=(0, 1)))
        cases.setdefault("conv1 (28x28x1 -> 28, 3x3, dW)", {})[impl] = (f, (w1, b1))
        f = jax.jit(jax.grad(
            lambda x, w, b, impl=impl: jnp.sum(ops.conv2d(x, w, b, impl=impl) ** 2),
            argnums=(0, 1, 2)))
        cases.setdefault("conv1 + dx", {})[impl] = (f, (x1, w1, b1))
        f = jax.jit(jax.grad(
            lambda x, w, impl=impl: jnp.sum(
                ops.conv2d(x, w, padding="same", impl=impl) ** 2),
            argnums=(0, 1)))
        cases.setdefault("conv_mid (13x13x28 -> 32, 3x3 same, dx+dW)", {})[impl] = (
            f, (xm, wm))

    # Whole CNN: conv impl paired with its natural pool impl (xla <-> xla).
    cnn_variants = {
        "xla": ("xla", "xla"),
        "shifted": ("shifted", "reshape"),   # = "auto" on CPU (Cin == 1)
        "patches": ("patches", "reshape"),
        "shifted+shiftpool": ("shifted", "shifted"),
    }
    for name, (ci, pi) in cnn_variants.items():
        g = jax.grad(lambda p, x, y, k, ci=ci, pi=pi: _cnn_loss(p, x, y, k, ci, pi))
        cases.setdefault("seed_cnn (grad all params)", {})[name] = (
            jax.jit(g), (params, x1, labels, key))
        gv = jax.vmap(g, in_axes=(0, None, None, None))
        cases.setdefault(f"seed_cnn vmap T={T} (shared batch)", {})[name] = (
            jax.jit(gv), (params_T, x1, labels, key))

    for pi in ["xla", "reshape", "shifted"]:
        f = jax.jit(jax.grad(
            lambda h, pi=pi: jnp.sum(ops.max_pool2d(h, 2, impl=pi) ** 2)))
        cases.setdefault("maxpool 2x2 (32x26x26x28, dx)", {})[pi] = (f, (hp,))

    results = {}
    loadavg = os.getloadavg()
    print(f"loadavg={loadavg} backend={jax.default_backend()} devices={jax.devices()} "
          f"cpus={os.cpu_count()} reps={args.reps}")
    print(f"auto conv impl on this backend: Cin=1 -> {ops.resolve_conv_impl('auto', 1)},"
          f" Cin>1 -> {ops.resolve_conv_impl('auto', 28)}")
    header = f"{'case':46s} {'impl':18s} {'ms/step':>9s} {'vs xla':>7s}"
    print(header)
    print("-" * len(header))
    for case, impls in cases.items():
        slow = "vmap" in case
        row = _time_case(impls, args.reps // 4 if slow else args.reps)
        base = row["xla"]
        results[case] = {
            impl: {"ms": round(ms, 4), "ratio_vs_xla": round(ms / base, 3)}
            for impl, ms in row.items()
        }
        for impl, ms in row.items():
            print(f"{case:46s} {impl:18s} {ms:9.3f} {ms / base:7.2f}")
        print()

    # Epoch estimate for the seed CNN (60,000 images at batch 32 = 1875 steps).
    steps = 60000 // BATCH
    epoch = {k: round(v["ms"] * steps / 1e3, 2)
             for k, v in results["seed_cnn (grad all params)"].items()}
    print(f"seed CNN gradient-only time per 60k-image epoch (s): {epoch}")

    out = {
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "batch": BATCH,
        "reps": args.reps,
        "trials": T,
        "statistic": "median ms per jitted forward+backward call",
        "auto_conv_impl": {"cin_1": ops.resolve_conv_impl("auto", 1),
                           "cin_gt_1": ops.resolve_conv_impl("auto", 28)},
        "loadavg_at_start": loadavg,
        "results": results,
        "seed_cnn_epoch_s_gradient_only": epoch,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
