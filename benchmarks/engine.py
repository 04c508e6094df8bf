"""Engine benchmark: seconds per epoch of sweeplab's compiled groups on real MNIST,
side by side with Keras 3 (JAX backend) and PyTorch eager, in one process.

Usage:
    SWEEPLAB_DATA=/work/shared/data .venv/bin/python benchmarks/engine.py
        [--only W1,W3] [--epochs 4] [--repeats 3] [--quick] [--no-keras] [--no-torch]
        [--alt-repeats N] [--out benchmarks/results/engine.json]

Workloads (issue 2, "Benchmark"), all float32 math, shuffled every epoch:

* W1   single sigmoid neuron, digit 0 vs rest, adam, batch 32, 36,000 training
       images (validation_split 0.4: the 24,000 validation images are evaluated
       every epoch, by every framework);
* W2   W1 at full batch (one step per epoch);
* W3   784-64(relu)-10 softmax, adam, batch 30, 60,000 images;
* W3x8 W3 with 8 seeds trained as one vmapped group (each shuffles its own way);
* W1x8 W1 with 8 seeds as one group;
* W4   784-512-512-10 relu, dropout 0.2 after each hidden layer, rmsprop, batch 128;
* W5   the seed-004 CNN: conv 28 3x3 relu, max-pool 2x2, flatten, dense 128 relu,
       dropout 0.2, dense 10 softmax, rmsprop, batch 32.

What is measured. sweeplab: each study is built from TOML text
(``study_from_text``) and trained by ``sweeplab.engine.trainer.train_group`` for
``--epochs`` epochs; its own per-epoch wall times are used (one epoch = the
compiled epoch call + the validation pass when there is one + fetching the
epoch's metrics). The program cache is cleared before every repeat, so the
first epoch includes compiling the init/epoch/evaluate functions. Keras: a fresh
``Sequential`` model, ``model.fit(..., shuffle=True)`` with the same batch size
and validation data, timed per epoch by a callback (first epoch includes Keras's
XLA compilation). PyTorch: eager ``nn.Sequential`` (1 intra-op thread by default, see
``--torch-threads``), a ``randperm`` per epoch,
the same optimizer and batch size, training accuracy accumulated on the device
(no per-step ``.item()``), validation under ``no_grad``.

Reported per workload: median over repeats of (median of epochs 2..N) and of
the first epoch. The x8 workloads have no native counterpart in Keras or
PyTorch: their alternative figure is 8 x the single-seed figure (marked ``8x``),
i.e. what running the 8 seeds one after another would cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("SWEEPLAB_DATA", "/work/shared/data")
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from sweeplab.engine import trainer  # noqa: E402
from sweeplab.spec.expand import study_from_text  # noqa: E402
from sweeplab.trial import TrialContext  # noqa: E402

# --------------------------------------------------------------------------- workloads
_HEAD = """
[study]
name = "bench-{name}"
seed = 0
repeats = {repeats}
"""

_BINARY_DATA = """
[data]
dataset = "mnist"
validation_split = 0.4
task = {type = "binary", positive = [0]}
"""

_MNIST_DATA = """
[data]
dataset = "mnist"
"""

_TRAIN = """
[train]
optimizer = "{optimizer}"
batch_size = {batch}
epochs = {epochs}
shuffle = true
metrics = ["accuracy"]
"""

_MODELS = {
    "neuron": '[model]\nmlp = { hidden = [] }\n',
    "mlp64": '[model]\nmlp = { hidden = [64], activation = "relu" }\n',
    "mlp512": '[model]\nmlp = { hidden = [512, 512], activation = "relu", dropout = 0.2 }\n',
    "cnn": """[model]
layers = [
  { type = "conv2d", filters = 28, kernel_size = 3, activation = "relu" },
  { type = "max_pooling2d", pool_size = 2 },
  { type = "flatten" },
  { type = "dense", units = 128, activation = "relu" },
  { type = "dropout", rate = 0.2 },
  { type = "dense", units = 10, activation = "softmax" },
]
""",
}

# name: (model, binary data?, optimizer, batch, seeds, target s/epoch, is_mlp)
WORKLOADS: dict[str, tuple] = {
    "W1": ("neuron", True, "adam", 32, 1, 0.015, True),
    "W2": ("neuron", True, "adam", "full", 1, None, True),
    "W3": ("mlp64", False, "adam", 30, 1, 0.15, True),
    "W3x8": ("mlp64", False, "adam", 30, 8, 0.8, True),
    "W1x8": ("neuron", True, "adam", 32, 8, 0.04, True),
    "W4": ("mlp512", False, "rmsprop", 128, 1, 0.8, True),
    "W5": ("cnn", False, "rmsprop", 32, 1, 4.0, False),
}
# Figures from the issue, measured on this machine (s/epoch), for reference.
ISSUE_REFERENCE = {
    "keras_tf": {"W1": 0.91, "W3": 2.33, "W4": 2.18, "W5": 10.5},
    "keras_jax": {"W1": 0.15, "W3": 0.44, "W4": 1.02, "W5": 10.4},
    "torch": {"W1": 0.55, "W3": 0.96, "W4": 3.2, "W5": 16.3},
}


def study_toml(name: str, epochs: int) -> str:
    model, binary, opt, batch, seeds, _, _ = WORKLOADS[name]
    batch_s = '"full"' if batch == "full" else str(batch)
    return (_HEAD.format(name=name, repeats=seeds) + (_BINARY_DATA if binary else _MNIST_DATA)
            + _MODELS[model] + _TRAIN.format(optimizer=opt, batch=batch_s, epochs=epochs))


# --------------------------------------------------------------------------- sweeplab
def run_sweeplab(name: str, epochs: int) -> list[float]:
    study = study_from_text(study_toml(name, epochs), f"<bench {name}>")
    trainer._PROGRAMS.clear()  # compile afresh: the first epoch includes compilation
    results = trainer.train_group(list(study.trials), study_seed=study.spec.study.seed)
    return list(results[0].epoch_seconds)


def bench_data(name: str):
    """The exact arrays sweeplab trains on (float32, as the model sees them)."""
    study = study_from_text(study_toml(name, 1))
    cfg = study.trials[0].config
    p = TrialContext.from_config(cfg, study.spec.study.seed).data
    a, b = p.affine

    def f(x):
        return (x.astype(np.float32) * np.float32(a) + np.float32(b)).astype(np.float32)

    (head,) = p.heads
    tr = (f(p.train.x), np.asarray(p.train.y[head]).astype(np.int64))
    va = None if p.val is None else (f(p.val.x), np.asarray(p.val.y[head]).astype(np.int64))
    return tr, va


# --------------------------------------------------------------------------- Keras 3 (JAX)
def keras_available() -> str | None:
    try:
        import keras  # noqa: F401
    except Exception as e:  # noqa: BLE001
        return f"keras not importable ({type(e).__name__}: {e})"
    if keras.backend.backend() != "jax":
        return f"keras backend is {keras.backend.backend()!r}, not 'jax' (set KERAS_BACKEND=jax)"
    return None


def run_keras(name: str, epochs: int, data) -> list[float]:
    import keras
    from keras import layers

    model_kind, binary, opt, batch, _, _, _ = WORKLOADS[name]
    (xtr, ytr), va = data
    keras.utils.set_random_seed(0)
    body = [keras.Input(xtr.shape[1:])]
    if model_kind == "cnn":
        body += [layers.Conv2D(28, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                 layers.Dense(128, activation="relu"), layers.Dropout(0.2)]
    else:
        body.append(layers.Flatten())
        hidden = {"neuron": [], "mlp64": [64], "mlp512": [512, 512]}[model_kind]
        for u in hidden:
            body.append(layers.Dense(u, activation="relu"))
            if model_kind == "mlp512":
                body.append(layers.Dropout(0.2))
    body.append(layers.Dense(1, activation="sigmoid") if binary else layers.Dense(10, activation="softmax"))
    model = keras.Sequential(body)
    loss = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    bs = len(xtr) if batch == "full" else batch
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # after the validation pass
            times.append(time.perf_counter() - self.t0)

    ytr_k = ytr.astype(np.float32) if binary else ytr
    vd = None if va is None else (va[0], va[1].astype(np.float32) if binary else va[1])
    model.fit(xtr, ytr_k, batch_size=bs, epochs=epochs, shuffle=True, validation_data=vd, verbose=0,
              callbacks=[Timer()])
    return times


# --------------------------------------------------------------------------- PyTorch eager
def torch_available() -> str | None:
    try:
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001
        return f"torch not importable ({type(e).__name__}: {e})"
    return None


TORCH_THREADS = 1  # --torch-threads; 2 OpenMP threads on a loaded 2-core machine spin-wait (20x slower)


def run_torch(name: str, epochs: int, data) -> list[float]:
    import torch
    from torch import nn

    model_kind, binary, opt, batch, _, _, _ = WORKLOADS[name]
    (xtr, ytr), va = data
    torch.manual_seed(0)
    torch.set_num_threads(TORCH_THREADS)
    if model_kind == "cnn":  # NHWC -> NCHW once, outside the timing
        X = torch.from_numpy(np.ascontiguousarray(xtr.transpose(0, 3, 1, 2)))
        net = nn.Sequential(nn.Conv2d(1, 28, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(13 * 13 * 28, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    else:
        X = torch.from_numpy(xtr.reshape(len(xtr), -1))
        hidden = {"neuron": [], "mlp64": [64], "mlp512": [512, 512]}[model_kind]
        mods: list = []
        d = 784
        for u in hidden:
            mods += [nn.Linear(d, u), nn.ReLU()] + ([nn.Dropout(0.2)] if model_kind == "mlp512" else [])
            d = u
        mods.append(nn.Linear(d, 1 if binary else 10))
        net = nn.Sequential(*mods)
    Y = torch.from_numpy(ytr.astype(np.float32) if binary else ytr)
    Xv = Yv = None
    if va is not None:
        Xv = torch.from_numpy(va[0].reshape(len(va[0]), -1) if model_kind != "cnn"
                              else np.ascontiguousarray(va[0].transpose(0, 3, 1, 2)))
        Yv = torch.from_numpy(va[1].astype(np.float32) if binary else va[1])
    if opt == "adam":
        optim = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    else:  # Keras RMSprop defaults: rho 0.9, eps 1e-7
        optim = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    n = len(X)
    bs = n if batch == "full" else batch

    def correct(z, y):
        return ((z[:, 0] > 0).float() == y).sum() if binary else (z.argmax(1) == y).sum()

    times: list[float] = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n)
        tot_loss = torch.zeros(())
        tot_ok = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, bs):
            b = perm[i:i + bs]
            xb, yb = X[b], Y[b]
            z = net(xb)
            loss = loss_fn(z[:, 0], yb) if binary else loss_fn(z, yb)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            with torch.no_grad():
                tot_loss += loss.detach() * len(b)
                tot_ok += correct(z.detach(), yb)
        if Xv is not None:
            net.eval()
            with torch.no_grad():
                ok = 0
                for i in range(0, len(Xv), 2048):
                    z = net(Xv[i:i + 2048])
                    ok += int(correct(z, Yv[i:i + 2048]))
        float(tot_loss), int(tot_ok)  # sync, as a framework reporting epoch metrics would
        times.append(time.perf_counter() - t0)
    return times



# --------------------------------------------------------------------------- the machine's matmul peak
def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of a jitted float32 ``n x n @ n x n`` ``jnp.dot`` on this machine now (median of ``reps``)."""
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((n, n), np.float32))
    b = jnp.asarray(rng.standard_normal((n, n), np.float32))
    f = jax.jit(jnp.dot)
    f(a, b).block_until_ready()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a, b).block_until_ready()
        ts.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / statistics.median(ts) / 1e9


# --------------------------------------------------------------------------- arithmetic lower bound
# Per-parameter FLOPs of one optimizer update (elementwise: counted, though memory-bound in practice).
_OPT_FLOPS = {"adam": 12, "rmsprop": 8}


def _layers_of(model_kind: str, binary: bool) -> list[tuple]:
    """(kind, fan_in, fan_out, positions per example) of each matmul-like layer, input first."""
    out = 1 if binary else 10
    if model_kind == "cnn":
        return [("conv", 9 * 1, 28, 26 * 26), ("dense", 13 * 13 * 28, 128, 1), ("dense", 128, out, 1)]
    hidden = {"neuron": [], "mlp64": [64], "mlp512": [512, 512]}[model_kind]
    dims = [784] + hidden + [out]
    return [("dense", a, b, 1) for a, b in zip(dims[:-1], dims[1:])]


def flops_per_epoch(name: str) -> dict:
    """Arithmetic of one epoch: forward + backward of every matmul/conv (the first layer needs no
    input gradient: 2 matmuls, the others 3), the optimizer's elementwise update per step, and the
    validation forward pass (W1/W2). Activations, losses and the gather are not counted."""
    model_kind, binary, opt, batch, seeds, _, _ = WORKLOADS[name]
    n_train, n_val = (36000, 24000) if binary else (60000, 0)
    bs = n_train if batch == "full" else batch
    steps = -(-n_train // bs)
    layers = _layers_of(model_kind, binary)
    fwd = sum(2 * a * b * pos for _, a, b, pos in layers)  # per example
    train = sum((2 if i == 0 else 3) * 2 * a * b * pos for i, (_, a, b, pos) in enumerate(layers))
    n_params = sum(a * b + b for _, a, b, _ in layers)
    total = n_train * train + n_val * fwd + steps * n_params * _OPT_FLOPS[opt]
    return {"flops": float(seeds * total), "steps": steps, "n_params": n_params,
            "matmul_flops": float(seeds * (n_train * train + n_val * fwd))}


def _keras_update(opt: str, p, g, s, t):
    """One parameter's update by Keras's default RMSprop or Adam (``s``: its slots, ``t``: the step)."""
    import jax.numpy as jnp

    if opt == "rmsprop":
        v = 0.9 * s[0] + 0.1 * g * g
        return p - 1e-3 * g / jnp.sqrt(v + 1e-7), (v,)
    m = s[0] + (g - s[0]) * 0.1
    v = s[1] + (g * g - s[1]) * 0.001
    alpha = 1e-3 * jnp.sqrt(1.0 - 0.999 ** t) / (1.0 - 0.9 ** t)
    return p - alpha * m / (jnp.sqrt(v) + 1e-7), (m, v)


def optimizer_floor(name: str, reps: int = 3) -> float:
    """Seconds per epoch of the optimizer's update alone, measured: every parameter of the workload
    updated ``steps`` times by the same rule (Keras defaults, as the hand-written variant) in one
    jitted ``fori_loop`` over runtime gradient buffers, per leaf, parameters donated.

    The arithmetic lower bound counts this pass as 8-12 FLOPs per parameter, but it reads the
    parameter, its gradient and 1-2 slots and writes 2-3 of them every step: for W5's 606k
    parameters ~12-17 MB per step, memory- not FLOP-bound. No model can train faster than its
    per-step optimizer pass, so this is the second floor beside ``LB s`` (median of ``reps``)."""
    import jax.numpy as jnp

    model_kind, binary, opt, batch, seeds, _, _ = WORKLOADS[name]
    fl = flops_per_epoch(name)
    shapes = []
    for kind, a, b, _ in _layers_of(model_kind, binary):
        shapes += [(seeds, a, b) if kind == "dense" else (seeds, 3, 3, 1, b), (seeds, b)]
    rng = np.random.default_rng(1)
    params = [jnp.asarray(rng.standard_normal(s, np.float32)) for s in shapes]
    grads = [jnp.asarray(rng.standard_normal(s, np.float32) * 1e-3) for s in shapes]
    n_slots = 1 if opt == "rmsprop" else 2

    update = partial(_keras_update, opt)

    @partial(jax.jit, donate_argnums=(0, 1))
    def run(ps, slots, gs):
        def body(i, c):
            ps, slots = c
            t = (i + 1).astype(jnp.float32)
            new = [update(p, g, tuple(s[k] for s in slots), t) for k, (p, g) in enumerate(zip(ps, gs))]
            return [a for a, _ in new], [[b[j] for _, b in new] for j in range(n_slots)]
        return jax.lax.fori_loop(0, fl["steps"], body, (ps, slots))

    ts = []
    for _ in range(reps + 1):  # the first call compiles
        ps = [p.copy() for p in params]
        slots = [[jnp.zeros_like(p) for p in params] for _ in range(n_slots)]
        t0 = time.perf_counter()
        jax.block_until_ready(run(ps, slots, grads))
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts[1:])


# --------------------------------------------------------------------------- hand-written JAX
def run_handjax(name: str, epochs: int, data) -> list[float]:
    """The same model written directly in JAX (the reference for "what JAX can do here"): one jitted
    epoch = a ``lax.scan`` over host-shuffled, padded batch indices; the conv as 9 shifted slices x
    matmul and the max-pool as reshape + max; the optimizer fused per leaf; dropout from one key per
    step. Same data, batch size, optimizer rule (Keras defaults) and per-epoch metric fetch."""
    import jax.numpy as jnp

    model_kind, binary, opt, batch, seeds, _, _ = WORKLOADS[name]
    (xtr, ytr), va = data
    X = jnp.asarray(xtr)
    Y = jnp.asarray(ytr.astype(np.float32) if binary else ytr.astype(np.int32))
    n = X.shape[0]
    bs = n if batch == "full" else batch
    steps = -(-n // bs)
    rng = np.random.default_rng(0)
    layers = _layers_of(model_kind, binary)
    params = []
    for kind, a, b, _ in layers:
        lim = np.sqrt(6.0 / (a + b))
        shape = (a, b) if kind == "dense" else (3, 3, 1, b)
        params.append((jnp.asarray(rng.uniform(-lim, lim, shape).astype(np.float32)), jnp.zeros((b,), jnp.float32)))
    dropout = model_kind in ("mlp512", "cnn")

    def drop(h, k):
        return jnp.where(jax.random.bernoulli(k, 0.8, h.shape), h / 0.8, 0.0)

    def forward(ps, x, key, train):
        h = x
        if model_kind == "cnn":
            (w, b) = ps[0]
            y = sum(jax.lax.dot_general(h[:, i:i + 26, j:j + 26, :], w[i, j], (((3,), (0,)), ((), ())))
                    for i in range(3) for j in range(3))
            h = jax.nn.relu(y + b.reshape(1, 1, 1, -1))
            h = jnp.max(h.reshape(h.shape[0], 13, 2, 13, 2, 28), axis=(2, 4)).reshape(h.shape[0], -1)
            rest = ps[1:]
        else:
            h = h.reshape(h.shape[0], -1)
            rest = ps
        keys = jax.random.split(key, len(rest)) if train and dropout else [None] * len(rest)
        for i, (w, b) in enumerate(rest):
            h = h @ w + b.reshape(1, -1)
            if i < len(rest) - 1:
                h = jax.nn.relu(h)
                if train and dropout:
                    h = drop(h, keys[i])
        return h

    def loss_fn(ps, x, y, m, key):
        z = forward(ps, x, key, True)
        if binary:
            zz = z[:, 0]
            per = jnp.maximum(zz, 0) - zz * y + jnp.log1p(jnp.exp(-jnp.abs(zz)))
            ok = ((zz > 0).astype(jnp.float32) == y)
        else:
            per = -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1)[:, 0]
            ok = jnp.argmax(z, axis=1) == y
        return jnp.sum(per * m) / jnp.maximum(jnp.sum(m), 1.0), jnp.sum(ok * m)

    update = partial(_keras_update, opt)

    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (zeros(),) if opt == "rmsprop" else (zeros(), zeros())

    @jax.jit
    def epoch(params, state, t, order, key):
        mask = (jnp.arange(steps * bs) < n).astype(jnp.float32).reshape(steps, bs)
        keys = jax.random.split(key, steps)

        def step(c, inp):
            params, state, t, tot, ok = c
            idx, m, k = inp
            (loss, nok), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, X[idx], Y[idx], m, k)
            t = t + 1.0
            flat_p, tdef = jax.tree_util.tree_flatten(params)
            flat_g = tdef.flatten_up_to(grads)
            flat_s = [tdef.flatten_up_to(s) for s in state]
            new = [update(p, g, tuple(s[i] for s in flat_s), t) for i, (p, g) in enumerate(zip(flat_p, flat_g))]
            params = tdef.unflatten([a for a, _ in new])
            state = tuple(tdef.unflatten([b[j] for _, b in new]) for j in range(len(state)))
            return (params, state, t, tot + loss * jnp.sum(m), ok + nok), None

        c, _ = jax.lax.scan(step, (params, state, t, 0.0, 0.0), (order.reshape(steps, bs), mask, keys))
        return c

    Xv = None if va is None else jnp.asarray(va[0])

    @jax.jit
    def evaluate(params):
        return jnp.sum(forward(params, Xv, None, False))

    times = []
    t, key = jnp.float32(0.0), jax.random.PRNGKey(0)
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = np.zeros(steps * bs, np.int32)
        order[:n] = rng.permutation(n)
        key, k = jax.random.split(key)
        params, state, t, tot, ok = epoch(params, state, t, jnp.asarray(order), k)
        v = evaluate(params) if Xv is not None else 0.0
        float(tot), float(ok), float(v)
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- driver
def _steady(times: list[float]) -> float:
    rest = times[1:]
    return float(statistics.median(rest)) if rest else float("nan")


def _fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.{digits}f}"


def machine_info() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    try:
        import jaxlib

        info["jaxlib_version"] = jaxlib.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all): " + ",".join(WORKLOADS))
    ap.add_argument("--epochs", type=int, default=4, help="epochs per run (median of epochs 2..N is reported)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of every sweeplab run (median reported)")
    ap.add_argument("--alt-repeats", type=int, default=None,
                    help="repeats of the Keras/PyTorch runs (default: --repeats, but 1 for W5)")
    ap.add_argument("--quick", action="store_true", help="3 epochs, 1 repeat, no W5 alternatives")
    ap.add_argument("--no-keras", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-hand", action="store_true", help="skip the hand-written JAX variant")
    ap.add_argument("--peak-reps", type=int, default=5,
                    help="2048^3 matmuls timed before every workload repeat (median = the peak)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads (default 1: with 2, OpenMP barriers on a loaded 2-core "
                         "machine made W1 20x slower)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "engine.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = min(args.epochs, 3), 1
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is reported separately)")
    names = [s.strip() for s in args.only.split(",") if s.strip()] or list(WORKLOADS)
    bad = [s for s in names if s not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {', '.join(bad)}; accepted: {', '.join(WORKLOADS)}")

    global TORCH_THREADS
    TORCH_THREADS = args.torch_threads
    notes: list[str] = []
    alts = {}
    for alt, flag, avail, fn in (("handjax", args.no_hand, lambda: None, run_handjax),
                                 ("keras_jax", args.no_keras, keras_available, run_keras),
                                 ("torch", args.no_torch, torch_available, run_torch)):
        if flag:
            notes.append(f"{alt}: skipped (--no-{ {'handjax': 'hand'}.get(alt, alt.split('_')[0])})")
            continue
        why = avail()
        if why:
            notes.append(f"{alt}: skipped: {why}")
            print(f"note: {alt} skipped: {why}", file=sys.stderr)
        else:
            alts[alt] = fn
    info = machine_info()
    if "keras_jax" in alts:
        import keras

        info["keras_version"] = keras.__version__
    if "torch" in alts:
        import torch

        info["torch_version"] = torch.__version__
        info["torch_threads"] = args.torch_threads

    rows = []
    single_alt: dict[tuple[str, str], float] = {}  # (alt, base workload) -> s/epoch
    t_all = time.perf_counter()
    for name in names:
        model, binary, opt, batch, seeds, target, is_mlp = WORKLOADS[name]
        data = bench_data(name) if alts else None
        runs: dict[str, list[list[float]]] = {"sweeplab": []}
        peaks: list[float] = []
        n_alt = args.alt_repeats if args.alt_repeats is not None else (1 if name == "W5" else args.repeats)
        run_alts = {} if (seeds > 1 or (args.quick and name == "W5")) else alts
        for r in range(max(args.repeats, n_alt if run_alts else 0)):
            peaks.append(matmul_peak(reps=args.peak_reps))  # interleaved with the runs: same load
            if r < args.repeats:
                runs["sweeplab"].append(run_sweeplab(name, args.epochs))
                print(f"  {name} rep {r + 1} sweeplab: " + " ".join(f"{t:.3f}" for t in runs["sweeplab"][-1]),
                      flush=True)
            if r < n_alt:
                for alt, fn in run_alts.items():
                    runs.setdefault(alt, []).append(fn(name, args.epochs, data))
                    print(f"  {name} rep {r + 1} {alt}: " + " ".join(f"{t:.3f}" for t in runs[alt][-1]),
                          flush=True)
        row: dict = {"workload": name, "seeds": seeds, "batch": batch, "optimizer": opt, "target": target,
                     "runs": runs}
        for who, rs in runs.items():
            row[who] = {"s_per_epoch": statistics.median(_steady(t) for t in rs),
                        "first_epoch": statistics.median(t[0] for t in rs), "repeats": len(rs)}
        sw = row["sweeplab"]["s_per_epoch"]
        row["first_minus_rest"] = row["sweeplab"]["first_epoch"] - sw
        fl = flops_per_epoch(name)
        peak = statistics.median(peaks)
        row.update(flops_per_epoch=fl["flops"], matmul_flops_per_epoch=fl["matmul_flops"], peak_gflops=peak,
                   peak_samples=peaks, lower_bound_s=fl["flops"] / (peak * 1e9))
        row["x_lb"] = sw / row["lower_bound_s"]
        row["optimizer_floor_s"] = optimizer_floor(name)
        row["x_opt_floor"] = sw / row["optimizer_floor_s"]
        for who in runs:
            row[who]["x_lb"] = row[who]["s_per_epoch"] / row["lower_bound_s"]
        for alt in alts:
            if alt in row:
                single_alt[(alt, name)] = row[alt]["s_per_epoch"]
            elif seeds > 1 and (alt, name.split("x")[0]) in single_alt:
                row[alt] = {"s_per_epoch": seeds * single_alt[(alt, name.split("x")[0])], "estimated": f"{seeds}x"}
            if alt in row:
                row[alt]["ratio_vs_sweeplab"] = row[alt]["s_per_epoch"] / sw
        ok = None
        if target is not None:
            ok = sw <= target
            if is_mlp:
                ok = ok and row["first_minus_rest"] <= 1.0
        row["pass"] = ok
        rows.append(row)
        if args.out and args.out != "-":  # partial results survive an interrupted run
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps({"machine": info, "partial": True, "workloads": rows},
                                                 indent=1, default=float) + "\n")

    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    table = render_table(rows, alts)
    peak_all = statistics.median(p for r in rows for p in r["peak_samples"])
    table += (f"\n\nmatmul peak (2048^3 jnp.dot, float32, median over the run): {peak_all:.0f} GFLOP/s; "
              f"load average start {info['loadavg_start']}, end {info['loadavg_end']}")
    print()
    print(table)
    for n in notes:
        print("note:", n)
    out = {"machine": info, "settings": {"epochs": args.epochs, "repeats": args.repeats, "quick": args.quick,
                                         "alt_repeats": args.alt_repeats, "float": "float32"},
           "notes": notes, "issue_reference": ISSUE_REFERENCE, "workloads": rows, "table": table,
           "wall_seconds": time.perf_counter() - t_all, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if args.out and args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1, default=float) + "\n")
        print(f"wrote {args.out}")
    return 0


def render_table(rows: list[dict], alts: dict) -> str:
    head = ["workload", "sweeplab s/ep", "LB s", "x LB", "opt pass s", "1st ep", "compile (1st-rest)"]
    for alt in alts:
        label = {"handjax": "hand JAX", "keras_jax": "Keras-JAX", "torch": "PyTorch"}[alt]
        head += [label, "ratio"]
    head += ["target", "pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        sw = r["sweeplab"]
        cells = [r["workload"], _fmt(sw["s_per_epoch"], 4), _fmt(r.get("lower_bound_s"), 4),
                 _fmt(r.get("x_lb"), 1) + "x", _fmt(r.get("optimizer_floor_s"), 4),
                 _fmt(sw["first_epoch"], 2), _fmt(r["first_minus_rest"], 2)]
        for alt in alts:
            a = r.get(alt)
            if a is None:
                cells += ["-", "-"]
            else:
                est = f" ({a['estimated']})" if a.get("estimated") else ""
                cells += [_fmt(a["s_per_epoch"], 3) + est, _fmt(a["ratio_vs_sweeplab"], 1) + "x"]
        cells += ["-" if r["target"] is None else f"<= {r['target']}",
                  "-" if r["pass"] is None else ("pass" if r["pass"] else "FAIL")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
