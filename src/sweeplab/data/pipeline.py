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

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

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


def data_seed(spec: DataSpec, study_seed: int) -> int:
    """The seed of a trial's data: ``data.seed`` when the study file sets it, else the study seed.

    The one rule: preparation, cross-validation folds and the trial's description all use it.
    """
    return int(spec.seed) if spec.seed is not None else int(study_seed)


# The one in-process data cache: prepared splits, and the raw datasets they are made from
# (reading MNIST's files takes about 0.5 s, preparing a variant of it 0.01-0.3 s, so a sweep
# over data settings reads the files once). Least recently used entries go first.
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 5


def _cached(key: tuple, make):
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    out = make()
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def prepare(spec: DataSpec, *, seed: int, storage: str = "float32", root=None) -> PreparedData:
    """Model-ready splits for ``spec``; deterministic given (spec, seed); cached in-process.

    ``seed`` is the study seed, used when ``spec.seed`` is None (:func:`data_seed`).
    ``storage="uint8"`` keeps 8-bit images as uint8 (with ``affine`` mapping them to
    model inputs) when no transform produced non-integer values (augment forces
    float32); otherwise x is float32 and ``affine == (1.0, 0.0)``.
    """
    if storage not in ("float32", "uint8"):
        raise ValueError(f"prepare: storage {storage!r} not accepted; accepted: float32, uint8")
    if not isinstance(spec, DataSpec):
        spec = DataSpec.model_validate(spec)
    dseed = data_seed(spec, seed)
    root_key = None if root is None else str(root)
    key = ("prepared", spec.model_dump_json(), dseed, storage, root_key)
    return _cached(key, lambda: _prepare(spec, dseed, storage, root))


def _raw(spec: DataSpec, root) -> Dataset:
    key = ("raw", spec.dataset, json.dumps(spec.params, sort_keys=True, default=str),
           None if root is None else str(root))
    return _cached(key, lambda: load_raw(spec.dataset, root=root, **spec.params))


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _prepare(spec: DataSpec, dseed: int, storage: str, root) -> PreparedData:
    """The stages of the module docstring, in its order (``dseed``: the data seed)."""
    ds = _raw(spec, root)
    x_tr, y_tr, x_te, y_te = _test_split(spec, ds, dseed)
    x_tr, y_tr, x_va, y_va = _validation_split(spec, x_tr, y_tr, dseed)
    x_tr, y_tr = _subsample(spec, ds, x_tr, y_tr, dseed)
    ys = {k: _targets(spec, ds, y) if y is not None else None
          for k, y in (("train", y_tr), ("val", y_va), ("test", y_te))}
    xs = _permute(spec, {"train": x_tr, "val": x_va, "test": x_te}, dseed)
    xs, affine, scale = _normalize(spec, ds, xs, storage)
    xs["train"], ys["train"] = _augment(spec, xs["train"], ys["train"], dseed, scale)

    splits = {k: (Split(xs[k], ys[k]) if xs[k] is not None else None) for k in xs}
    heads = _heads(spec, ds)
    sizes = " / ".join(f"{k} {len(s)}" for k, s in splits.items() if s is not None)
    desc = (f"{ds.name}: {spec.task_type()} ({', '.join(heads)}), {sizes}, normalize={spec.normalize_mode()}"
            + (", permuted pixels" if spec.permute_pixels else "")
            + (f", augment {spec.augment.fraction:g} sigma {spec.augment.sigma:g}"
               if spec.augment else "")
            + f", data seed {dseed}")
    return PreparedData(splits["train"], splits["val"], splits["test"], heads,
                        tuple(int(d) for d in xs["train"].shape[1:]), affine, ds.name, desc)


def _test_split(spec: DataSpec, ds: Dataset, dseed: int):
    """2. ``(x_train, y_train, x_test, y_test)``: the official test split, else a random ``test_size``."""
    x_all, y_all = ds.x_train, ds.y_train
    if ds.x_test is not None:
        return x_all, y_all, ds.x_test, ds.y_test
    frac = spec.test_fraction()
    n_test = int(round(len(y_all) * frac))
    if n_test < 1 or n_test >= len(y_all):
        raise UserError(f"data.test_size: {frac!r} leaves no test or no training data "
                         f"for {len(y_all)} samples")
    te = stratified_choice(_primary(y_all), n_test, _rng(dseed, "test"), spec.stratify)
    tr = _complement(len(y_all), te)
    return x_all[tr], y_all[tr], x_all[te], y_all[te]


def _validation_split(spec: DataSpec, x_tr, y_tr, dseed: int):
    """3. ``(x_train, y_train, x_val, y_val)``; the validation pair is None without one."""
    n = len(y_tr)
    if spec.validation_split is not None:
        split_at = int(n * (1.0 - spec.validation_split))  # Keras: last fraction, no shuffle
        if split_at < 1 or split_at >= n:
            raise UserError(f"data.validation_split: {spec.validation_split!r} leaves no "
                             f"training or no validation data for {n} samples")
        return x_tr[:split_at], y_tr[:split_at], x_tr[split_at:], y_tr[split_at:]
    if spec.validation_size is not None:
        if spec.validation_size >= n:
            raise UserError(f"data.validation_size: {spec.validation_size!r} must be smaller "
                             f"than the {n} training samples")
        va = stratified_choice(_primary(y_tr), spec.validation_size, _rng(dseed, "val"),
                               spec.stratify)
        tr = _complement(n, va)
        return x_tr[tr], y_tr[tr], x_tr[va], y_tr[va]
    return x_tr, y_tr, None, None


def _subsample(spec: DataSpec, ds: Dataset, x_tr, y_tr, dseed: int):
    """4. ``subsample`` training samples, drawn from what the validation split left."""
    if spec.subsample is None:
        return x_tr, y_tr
    if spec.subsample > len(y_tr):
        raise UserError(f"data.subsample: {spec.subsample!r} exceeds the {len(y_tr)} "
                         f"training samples available for {ds.name!r}")
    sub = stratified_choice(_primary(y_tr), spec.subsample, _rng(dseed, "subsample"), spec.stratify)
    return x_tr[sub], y_tr[sub]


def pixel_permutation(n_pixels: int, dseed: int) -> np.ndarray:
    """The permutation ``permute_pixels`` applies for data seed ``dseed`` (:func:`data_seed`);
    trained models apply the same one to new images."""
    return _rng(dseed, "perm").permutation(n_pixels)


def _permute(spec: DataSpec, xs: dict, dseed: int) -> dict:
    """6. One permutation of the pixel positions (channels move together), applied to every split."""
    if not spec.permute_pixels:
        return xs
    h, w = xs["train"].shape[1:3]
    perm = pixel_permutation(h * w, dseed)
    return {k: None if x is None else x.reshape(len(x), h * w, -1)[:, perm].reshape(x.shape)
            for k, x in xs.items()}


def _normalize(spec: DataSpec, ds: Dataset, xs: dict, storage: str) -> tuple[dict, tuple[float, float], Any]:
    """7. Scale with training statistics only; ``(xs, affine, scale)``: uint8 images stay uint8 when
    allowed; ``scale`` (a number, or one per feature) is what one raw unit becomes."""
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
    if storage == "uint8" and image and xt.dtype == np.uint8 and spec.augment is None:
        return xs, (float(a), float(b)), a
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return {k: None if x is None else x.astype(np.float32) * a32 + b32 for k, x in xs.items()}, (1.0, 0.0), a


def _augment(spec: DataSpec, x: np.ndarray, y: dict, dseed: int, scale: Any = 1.0) -> tuple[np.ndarray, dict]:
    """8. Noisy copies appended to the training split (sigma in model-input units, or in raw
    units times the normalisation's ``scale`` with ``units = "raw"``)."""
    if spec.augment is None or spec.augment.fraction <= 0:
        return x, y
    n_tr = len(x)
    n_aug = int(round(spec.augment.fraction * n_tr))
    if not n_aug:
        return x, y
    rng = _rng(dseed, "augment")
    src = rng.choice(n_tr, n_aug, replace=n_aug > n_tr)
    noise = rng.normal(0.0, spec.augment.sigma, x[src].shape)
    if spec.augment.units == "raw":
        noise = noise * np.abs(np.asarray(scale, np.float64))  # a number, or one per feature (last axis)
    noisy = x[src] + noise.astype(np.float32)
    return np.concatenate([x, noisy.astype(np.float32)]), {k: np.concatenate([v, v[src]]) for k, v in y.items()}


def _mean_var(x: np.ndarray, chunk: int = 4096) -> tuple[float, float]:
    """Mean and variance of all values of x (float64 accumulation, chunked)."""
    s = s2 = 0.0
    for i in range(0, len(x), chunk):
        c = x[i:i + chunk].astype(np.float64)
        s += c.sum()
        s2 += np.square(c).sum()
    m = s / x.size
    return m, max(s2 / x.size - m * m, 0.0)
