"""Raw dataset loaders: ``load("mnist")`` like ``keras.datasets.mnist.load_data()``.

Layout: images NHWC; float32 in [0, 1] (raw / full-scale value) by default, or the raw
uint8 with ``dtype="uint8"``; labels int64 class indices. ``synthetic2d`` gives float32
(N, 2) points. ``clocks`` labels are (N, 2) int64 ``[hour, minute]``. Datasets without
an official test split (digits, synthetic2d, clocks) return ``x_test = y_test = None``;
``prepare`` carves a test split from them (``test_size``).
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.errors import UserError

from .download import DEFAULT_TIMEOUT, DownloadError, RemoteFile, download_file, publish
from .formats import read_idx, read_svhn_mat
from .paths import data_dir


@dataclass(frozen=True, eq=False)
class Dataset:
    """Raw arrays of one dataset; unpacks as ``(x_train, y_train), (x_test, y_test)``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: list[str] | None = None
    label_names: tuple[str, ...] = ("label",)
    max_value: float | None = 255  # full-scale raw value (None: not an image scale)
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        yield (self.x_train, self.y_train)
        yield (self.x_test, self.y_test)

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        return ((self.x_train, self.y_train), (self.x_test, self.y_test))[i]

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {"train": (self.x_train, self.y_train)}
        if self.x_test is not None:
            out["test"] = (self.x_test, self.y_test)
        return out


# ---------------------------------------------------------------------------------------
# files of downloadable datasets

def _entry(name: str):
    from .registry import DATASETS

    return DATASETS.get(name)


def _all_files(entry) -> list[RemoteFile]:
    return [rf for files in entry.meta["files"].values() for rf in files]


def search_dirs(name: str, root=None) -> list[Path]:
    """Folders searched for a dataset's files: ``<data>/<name>`` then system copies."""
    entry = _entry(name)
    dirs = [data_dir(root) / entry.name]
    dirs += [Path(d) for d in entry.meta.get("system_dirs", [])]
    return dirs


def find_files(name: str, root=None) -> dict[str, Path] | None:
    """{file name: path} when one search folder holds every file of the dataset."""
    entry = _entry(name)
    if entry.meta.get("kind") != "download":
        return {}
    names = [rf.name for rf in _all_files(entry)]
    for d in search_dirs(name, root):
        if all((d / n).is_file() for n in names):
            return {n: d / n for n in names}
    return None


def is_cached(name: str, root=None) -> bool:
    entry = _entry(name)
    if entry.meta.get("kind") == "download":
        return find_files(name, root) is not None
    if entry.name == "clocks":
        return any(p.is_file() for p in _clocks_places(root, **entry.defaults()))
    return True


def manual_instructions(entry, folder: Path) -> str:
    names = ", ".join(rf.name for rf in _all_files(entry))
    return (f"To install by hand, download {names} (from {entry.meta['mirrors'][0]}) and place "
            f"them in {folder}/ (or set SWEEPLAB_DATA to a folder that has a {entry.name}/ "
            "subfolder with these files).")


def fetch(name: str, *, root=None, mirrors: list[str] | None = None,
          files: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
          progress: bool = True, force: bool = False) -> Path:
    """Download a dataset's files into ``<data>/<name>/`` unless already present.

    ``mirrors`` and ``files`` override the registry's (tests point them at a local
    server). Each file is verified (MD5 of the file or of its uncompressed content)
    and checked for format before it is renamed into place. Raises DownloadError
    naming the dataset, every URL tried with its failure, and the manual route.
    """
    entry = _entry(name)
    if entry.meta.get("kind") != "download":
        return data_dir(root) / entry.name
    folder = data_dir(root) / entry.name
    if not force and files is None and mirrors is None:
        found = find_files(name, root)
        if found is not None:
            return next(iter(found.values())).parent
    mirrors = list(mirrors if mirrors is not None else entry.meta["mirrors"])
    filemap = files if files is not None else entry.meta["files"]
    all_failures: list[str] = []
    missing: list[str] = []
    for split, rfs in filemap.items():
        for rf in rfs:
            if (folder / rf.name).is_file() and not force:
                continue
            check = functools.partial(_check_file, entry, split, rf.name,
                                      files is None)  # overridden files: any count
            try:
                path, failures = download_file(rf, mirrors, folder, timeout=timeout,
                                               progress=progress, check=check)
            except OSError as e:  # e.g. read-only data folder
                path, failures = None, [f"{folder}: cannot write ({e})"]
            all_failures += failures
            if path is None:
                missing.append(rf.name)
    if missing:
        lines = [f"could not download dataset {entry.name!r} (missing {', '.join(missing)}); "
                 "tried:"]
        lines += [f"  - {f}" for f in all_failures]
        lines.append(manual_instructions(entry, folder))
        raise DownloadError("\n".join(lines))
    return folder


def _check_file(entry, split: str, fname: str, check_count: bool, path: Path) -> None:
    """Format check of one file (magic numbers, counts, label range)."""
    count = entry.meta["counts"].get(split) if check_count else None
    if fname.endswith(".mat"):
        read_svhn_mat(path, count=count)
    elif "labels" in fname:
        read_idx(path, ndim=1, count=count, max_label=len(entry.meta["classes"]) - 1)
    else:
        read_idx(path, ndim=3, count=count, shape=entry.meta["shape"][:2])


def _require(name: str, root, download: bool) -> dict[str, Path]:
    found = find_files(name, root)
    if found is None:
        entry = _entry(name)
        if not download:
            raise FileNotFoundError(f"dataset {entry.name!r} is not in {data_dir(root) / entry.name}/. "
                                    + manual_instructions(entry, data_dir(root) / entry.name))
        fetch(name, root=root)
        found = find_files(name, root)
        assert found is not None
    return found


# ---------------------------------------------------------------------------------------
# loaders (registered as Entry.obj); each returns native-dtype arrays

def load_mnist_like(name: str, root=None, download: bool = True) -> Dataset:
    entry = _entry(name)
    paths = _require(name, root, download)
    counts, classes, shape = entry.meta["counts"], entry.meta["classes"], entry.meta["shape"]
    arrays = {}
    for split, (img, lab) in entry.meta["files"].items():
        x = read_idx(paths[img.name], ndim=3, count=counts[split], shape=shape[:2])
        y = read_idx(paths[lab.name], ndim=1, count=counts[split], max_label=len(classes) - 1)
        arrays[split] = (x[..., None], y.astype(np.int64))
    return Dataset(entry.name, *arrays["train"], *arrays["test"], class_names=list(classes),
                   max_value=255, description=entry.doc)


def load_svhn(name: str = "svhn", root=None, download: bool = True) -> Dataset:
    entry = _entry(name)
    paths = _require(name, root, download)
    arrays = {}
    for split, (rf,) in entry.meta["files"].items():
        arrays[split] = read_svhn_mat(paths[rf.name], count=entry.meta["counts"][split])
    return Dataset(entry.name, *arrays["train"], *arrays["test"],
                   class_names=list(entry.meta["classes"]), max_value=255, description=entry.doc)


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16), read from
    the package's own ``digits.csv.gz`` without importing scikit-learn (whose
    import costs over a second); falls back to ``sklearn.datasets.load_digits``."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",", dtype=np.float64)
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return d.images, d.target


def load_digits(name: str = "digits", root=None, download: bool = True) -> Dataset:
    images, target = _sklearn_digits()
    x = images.astype(np.uint8)[..., None]  # values 0..16
    return Dataset("digits", x, target.astype(np.int64), None, None,
                   class_names=[str(i) for i in range(10)], max_value=16,
                   description=_entry("digits").doc)


def load_synthetic2d(name: str = "synthetic2d", root=None, download: bool = True,
                     function: str = "f1", n_samples: int = 4000, noise: float = 0.0,
                     box: float = 50.0, seed: int = 0) -> Dataset:
    from .synthetic import generate

    x, y = generate(function, n_samples, noise, seed, box)
    return Dataset("synthetic2d", x, y, None, None, class_names=["0", "1"], max_value=None,
                   description=f"synthetic2d {function}: {n_samples} points, noise {noise}",
                   params=dict(function=function, n_samples=n_samples, noise=noise, box=box,
                               seed=seed))


def _clocks_cache_path(root, size=150, n_images=18000, rotation=30.0, noise=10.0, seed=0) -> Path:
    from .clocks import VERSION

    return (data_dir(root) / "clocks" /
            f"clocks_v{VERSION}_s{int(size)}_n{int(n_images)}_r{float(rotation):g}"
            f"_z{float(noise):g}_seed{int(seed)}.npz")


def _clocks_places(root, size=150, n_images=18000, rotation=30.0, noise=10.0, seed=0) -> list[Path]:
    """Where generated clocks are cached: the data folder, then (when that one is read-only,
    like a shared copy of the real datasets) the user's cache, so they are rendered once."""
    path = _clocks_cache_path(root, size, n_images, rotation, noise, seed)
    fallback = _clocks_cache_path(Path("~/.cache/sweeplab").expanduser(), size, n_images, rotation, noise, seed)
    return [path] if fallback == path else [path, fallback]


def load_clocks(name: str = "clocks", root=None, download: bool = True, size: int = 150,
                n_images: int = 18000, rotation: float = 30.0, noise: float = 10.0,
                seed: int = 0) -> Dataset:
    """Generated once per parameter set, then read from ``<data>/clocks/*.npz`` (no pickle)."""
    from . import clocks

    places = _clocks_places(root, size, n_images, rotation, noise, seed)
    x = y = None
    for place in places:
        if x is None and place.is_file():
            try:
                with np.load(place, allow_pickle=False) as z:
                    x, y = z["x"], z["y"]
                if x.shape != (int(n_images), int(size), int(size), 1) or y.shape != (int(n_images), 2):
                    x = y = None
            except Exception:  # corrupt cache: regenerate
                x = y = None
    if x is None:
        x, y, _ = clocks.generate(n_images, size, seed, rotation, noise)
        for place in places:
            try:
                place.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".clocks.", suffix=".npz.part", dir=place.parent)
                try:
                    with os.fdopen(fd, "wb") as f:
                        np.savez(f, x=x, y=y)
                    publish(tmp, place)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                break
            except OSError:
                continue  # not writable: try the next place, else keep the in-memory copy only
    return Dataset("clocks", x, y, None, None, class_names=[str(h) for h in range(12)],
                   label_names=("hour", "minute"), max_value=255,
                   description=f"clocks {size}x{size}, {n_images} images",
                   params=dict(size=size, n_images=n_images, rotation=rotation, noise=noise,
                               seed=seed))


# ---------------------------------------------------------------------------------------
# public entry points

_lock = threading.Lock()


def resolve_params(name: str, params: dict | None = None) -> tuple[str, dict[str, Any]]:
    """Canonical name and full parameter dict (defaults filled, names and values checked
    by the Params' constraints, :func:`sweeplab.vocab.params.check_entry`)."""
    from sweeplab.vocab.params import InvalidParamError, check_entry

    entry = _entry(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(entry.param_names()))
    if unknown:
        accepted = ", ".join(entry.param_names()) or "(none)"
        raise UserError(f"data.params: unknown parameter(s) {', '.join(unknown)} for dataset "
                         f"{entry.name!r}; accepted: {accepted}")
    try:
        full = check_entry(entry, params, "dataset")
    except InvalidParamError as e:  # the message starts with the field it is about
        where = f"data.params.{e.param}" if e.param else "data.params"
        raise InvalidParamError(f"{where}: {e}", e.entry, e.param, e.accepted) from None
    return entry.name, full




def load_raw(name: str, *, root=None, download: bool = True, **params) -> Dataset:
    """Native-dtype arrays (uint8 images, float32 points), read from the files each call.

    Not cached here: :func:`sweeplab.data.prepare` holds the one in-process data cache.
    """
    cname, full = resolve_params(name, params)
    entry = _entry(cname)
    with _lock:  # one generator or download at a time writes a dataset's files
        return entry.obj(entry.name, root=str(data_dir(root)), download=download, **full)


def load(name: str, *, dtype: str = "float32", root=None, download: bool = True,
         **params) -> Dataset:
    """Load a dataset like ``keras.datasets.mnist.load_data()``.

    >>> (x_train, y_train), (x_test, y_test) = load("mnist")

    Images are NHWC; ``dtype="float32"`` (default) scales them to [0, 1] by the full-scale
    value (255, or 16 for digits); ``dtype="uint8"`` returns the raw bytes. Labels are int64.
    Downloads (verified) on first use unless ``download=False``.
    """
    ds = load_raw(name, root=root, download=download, **params)
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"load: dtype {dtype!r} not accepted; accepted: float32, uint8")
    if dtype == "uint8":
        if ds.x_train.dtype != np.uint8:
            raise ValueError(f"load: dataset {ds.name!r} is not 8-bit (dtype={ds.x_train.dtype}); "
                             "use dtype='float32'")
        return ds
    scale = 1.0 / ds.max_value if ds.max_value else 1.0

    def conv(x):
        return None if x is None else (x.astype(np.float32) * np.float32(scale))

    return Dataset(ds.name, conv(ds.x_train), ds.y_train, conv(ds.x_test), ds.y_test,
                   ds.class_names, ds.label_names, ds.max_value, ds.description, ds.params)
