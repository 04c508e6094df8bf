"""``prepare(spec, seed=...)``: from a DataSpec to model-ready splits (pure numpy).

Order of operations (each stage draws from its own seeded stream, so changing one
setting does not reshuffle the others):

1. load the raw dataset (``load_raw``);
2. test split: the official one, else a (stratified) random ``test_fraction`` of the data;
3. validation: ``validation_split`` = the LAST fraction of the training data in its
   original order (Keras semantics, no shuffling); ``validation_size`` = that many
   samples drawn at random (stratified when ``stratify``);
4. ``subsample``: N training samples (stratified by class when ``stratify``), drawn from
   what is left after the validation split, so the validation set does not change
   when N is swept; a smaller N from the same seed is nested in a larger one;
5. targets for the task (per head);
6. ``permute_pixels``: one permutation of the H*W pixel positions (channels move
   together), drawn from the data seed, applied to every split;
7. ``normalize``: statistics from the (subsampled) training split only;
8. ``augment``: noisy copies appended to the training split only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .loaders import Dataset, load_raw
from sweeplab.errors import UserError
from .spec import DataSpec

_STAGES = {"test": 1, "val": 2, "subsample": 3, "perm": 4, "augment": 5}


@dataclass(frozen=True, eq=False)
class Split:
    x: np.ndarray  # (N, H, W, C) images or (N, D) features
    y: dict[str, np.ndarray]  # head name -> targets; single-head tasks use "output"

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class HeadInfo:
    name: str
    kind: str  # "binary" | "multiclass" | "regression"
    n_classes: int | None
    class_names: list[str] | None


@dataclass(frozen=True, eq=False)
class PreparedData:
    train: Split
    val: Split | None
    test: Split | None
    heads: dict[str, HeadInfo]
    input_shape: tuple[int, ...]
    affine: tuple[float, float]  # x_model = x.astype(float32) * affine[0] + affine[1]
    name: str
    description: str

    def splits(self) -> dict[str, Split]:
        return {k: v for k, v in (("train", self.train), ("val", self.val),
                                  ("test", self.test)) if v is not None}


def _rng(seed: int, stage: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & (2**63 - 1), _STAGES[stage]]))


def _primary(y: np.ndarray) -> np.ndarray:
    return y if y.ndim == 1 else y[:, 0]


def stratified_choice(labels: np.ndarray, n: int, rng: np.random.Generator,
                      stratify: bool = True) -> np.ndarray:
    """Indices of ``n`` items; per-class counts proportional to the class frequencies
    (largest remainder), each class's items taken in a seeded random order. Sorted."""
    total = len(labels)
    if n > total:
        raise ValueError(f"cannot draw {n} samples from {total}")
    if not stratify:
        return np.sort(rng.permutation(total)[:n])
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    exact = counts * (n / total)
    take = np.floor(exact).astype(int)
    rest = n - take.sum()
    if rest:
        order = np.lexsort((-counts, -(exact - take)))  # largest remainder, then bigger class
        take[order[:rest]] += 1
    out = []
    for c in range(len(classes)):
        idx = np.nonzero(inverse == c)[0]
        out.append(idx[rng.permutation(len(idx))[:take[c]]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, int)


def _complement(n: int, idx: np.ndarray) -> np.ndarray:
    mask = np.ones(n, bool)
    mask[idx] = False
    return np.nonzero(mask)[0]


def _targets(spec: DataSpec, ds: Dataset, y: np.ndarray) -> dict[str, np.ndarray]:
    t = spec.task_type()
    clocks = ds.name == "clocks"
    lab = _primary(y)
    scale = spec.task.target_scale  # regression targets only, e.g. minutes / 60
    if t == "multihead":
        return {"hour": y[:, 0].astype(np.int32), "minute": (y[:, 1] * scale).astype(np.float32)}
    if t == "multiclass":
        return {"output": lab.astype(np.int32)}
    if t == "binary":
        pos = spec.task.positive if spec.task.positive is not None else [1]
        return {"output": np.isin(lab, pos).astype(np.float32)}
    if clocks:  # regression: time in hours
        return {"output": ((y[:, 0] + y[:, 1] / 60.0) * scale).astype(np.float32)}
    return {"output": (lab * scale).astype(np.float32)}


def _heads(spec: DataSpec, ds: Dataset) -> dict[str, HeadInfo]:
    t = spec.task_type()
    names = list(ds.class_names or [])
    if t == "multihead":
        return {"hour": HeadInfo("hour", "multiclass", 12, [str(h) for h in range(12)]),
                "minute": HeadInfo("minute", "regression", None, None)}
    if t == "multiclass":
        return {"output": HeadInfo("output", "multiclass", len(names), names)}
    if t == "binary":
        if spec.task.positive is None:
            cn = names if len(names) == 2 else ["0", "1"]
        else:
            pos = "+".join(names[i] for i in spec.task.positive)
            cn = [f"not {pos}", pos]
        return {"output": HeadInfo("output", "binary", 2, cn)}
    return {"output": HeadInfo("output", "regression", None, None)}


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


def prepare(spec: DataSpec, *, seed: int, storage: str = "float32", root=None) -> PreparedData:
    """Model-ready splits for ``spec``; deterministic given (spec, seed); cached in-process.

    ``seed`` is the study seed, used when ``spec.seed`` is None. ``storage="uint8"``
    keeps 8-bit images as uint8 (with ``affine`` mapping them to model inputs) when no
    transform produced non-integer values (augment forces float32); otherwise x is
    float32 and ``affine == (1.0, 0.0)``.
    """
    if storage not in ("float32", "uint8"):
        raise ValueError(f"prepare: storage {storage!r} not accepted; accepted: float32, uint8")
    if not isinstance(spec, DataSpec):
        spec = DataSpec.model_validate(spec)
    key = (spec.model_dump_json(), int(seed), storage, None if root is None else str(root))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    out = _prepare(spec, int(seed), storage, root)
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _prepare(spec: DataSpec, seed: int, storage: str, root) -> PreparedData:
    dseed = spec.seed if spec.seed is not None else seed
    ds = load_raw(spec.dataset, root=root, **spec.params)
    x_all, y_all = ds.x_train, ds.y_train

    # 2. test split
    if ds.x_test is not None:
        x_tr, y_tr, x_te, y_te = x_all, y_all, ds.x_test, ds.y_test
    else:
        frac = spec.test_fraction()
        n_test = int(round(len(y_all) * frac))
        if n_test < 1 or n_test >= len(y_all):
            raise UserError(f"data.test_size: {frac!r} leaves no test or no training data "
                             f"for {len(y_all)} samples")
        te = stratified_choice(_primary(y_all), n_test, _rng(dseed, "test"), spec.stratify)
        tr = _complement(len(y_all), te)
        x_tr, y_tr, x_te, y_te = x_all[tr], y_all[tr], x_all[te], y_all[te]

    # 3. validation
    x_va = y_va = None
    n = len(y_tr)
    if spec.validation_split is not None:
        split_at = int(n * (1.0 - spec.validation_split))  # Keras: last fraction, no shuffle
        if split_at < 1 or split_at >= n:
            raise UserError(f"data.validation_split: {spec.validation_split!r} leaves no "
                             f"training or no validation data for {n} samples")
        x_va, y_va = x_tr[split_at:], y_tr[split_at:]
        x_tr, y_tr = x_tr[:split_at], y_tr[:split_at]
    elif spec.validation_size is not None:
        if spec.validation_size >= n:
            raise UserError(f"data.validation_size: {spec.validation_size!r} must be smaller "
                             f"than the {n} training samples")
        va = stratified_choice(_primary(y_tr), spec.validation_size, _rng(dseed, "val"),
                               spec.stratify)
        tr = _complement(n, va)
        x_va, y_va, x_tr, y_tr = x_tr[va], y_tr[va], x_tr[tr], y_tr[tr]

    # 4. subsample
    if spec.subsample is not None:
        if spec.subsample > len(y_tr):
            raise UserError(f"data.subsample: {spec.subsample!r} exceeds the {len(y_tr)} "
                             f"training samples available for {ds.name!r}")
        sub = stratified_choice(_primary(y_tr), spec.subsample, _rng(dseed, "subsample"),
                                spec.stratify)
        x_tr, y_tr = x_tr[sub], y_tr[sub]

    # 5. targets
    ys = {k: _targets(spec, ds, y) if y is not None else None
          for k, y in (("train", y_tr), ("val", y_va), ("test", y_te))}

    # 6. permutation of pixel positions
    xs = {"train": x_tr, "val": x_va, "test": x_te}
    if spec.permute_pixels:
        h, w = x_tr.shape[1:3]
        perm = _rng(dseed, "perm").permutation(h * w)
        for k, x in xs.items():
            if x is not None:
                xs[k] = x.reshape(len(x), h * w, -1)[:, perm].reshape(x.shape)

    # 7. normalize (train statistics only)
    mode = spec.normalize_mode()
    xt = xs["train"]
    image = xt.ndim == 4
    if image:
        scale = 1.0 / ds.max_value if ds.max_value else 1.0
        if mode == "unit":
            a, b = scale, 0.0
        elif mode == "standardize":
            mean, var = _mean_var(xt)
            std = float(np.sqrt(var)) or 1.0
            a, b = 1.0 / std, -mean / std
        else:
            a, b = 1.0, 0.0
    else:  # feature vectors: per-feature statistics
        xt64 = xt.astype(np.float64)
        if mode == "unit":
            lo, hi = xt64.min(0), xt64.max(0)
            rng_ = np.where(hi > lo, hi - lo, 1.0)
            a, b = 1.0 / rng_, -lo / rng_
        elif mode == "standardize":
            mu, sd = xt64.mean(0), xt64.std(0)
            sd = np.where(sd > 0, sd, 1.0)
            a, b = 1.0 / sd, -mu / sd
        else:
            a, b = 1.0, 0.0

    keep_uint8 = (storage == "uint8" and image and xt.dtype == np.uint8 and spec.augment is None)
    if keep_uint8:
        affine = (float(a), float(b))
    else:
        a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
        for k, x in xs.items():
            if x is not None:
                xs[k] = x.astype(np.float32) * a32 + b32
        affine = (1.0, 0.0)

    # 8. augment (training split only; sigma in model-input units)
    if spec.augment is not None and spec.augment.fraction > 0:
        xt = xs["train"]
        n_tr = len(xt)
        n_aug = int(round(spec.augment.fraction * n_tr))
        if n_aug:
            rng = _rng(dseed, "augment")
            src = rng.choice(n_tr, n_aug, replace=n_aug > n_tr)
            noisy = xt[src] + rng.normal(0.0, spec.augment.sigma, xt[src].shape).astype(np.float32)
            xs["train"] = np.concatenate([xt, noisy.astype(np.float32)])
            ys["train"] = {k: np.concatenate([v, v[src]]) for k, v in ys["train"].items()}

    splits = {k: (Split(xs[k], ys[k]) if xs[k] is not None else None) for k in xs}
    heads = _heads(spec, ds)
    sizes = " / ".join(f"{k} {len(s)}" for k, s in splits.items() if s is not None)
    desc = (f"{ds.name}: {spec.task_type()} ({', '.join(heads)}), {sizes}, normalize={mode}"
            + (", permuted pixels" if spec.permute_pixels else "")
            + (f", augment {spec.augment.fraction:g} sigma {spec.augment.sigma:g}"
               if spec.augment else "")
            + f", data seed {dseed}")
    return PreparedData(splits["train"], splits["val"], splits["test"], heads,
                        tuple(int(d) for d in xs["train"].shape[1:]), affine, ds.name, desc)


def _mean_var(x: np.ndarray, chunk: int = 4096) -> tuple[float, float]:
    """Mean and variance of all values of x (float64 accumulation, chunked)."""
    s = s2 = 0.0
    for i in range(0, len(x), chunk):
        c = x[i:i + chunk].astype(np.float64)
        s += c.sum()
        s2 += np.square(c).sum()
    m = s / x.size
    return m, max(s2 / x.size - m * m, 0.0)
