"""The dataset registry ``DATASETS``: one Entry per dataset.

Entry.obj is the raw loader ``fn(root, download, **params) -> Dataset``; Entry.params
are the dataset-specific options accepted in ``[data.params]``; Entry.meta holds the
facts shown by ``sweeplab data list/info`` and used by fetch:

    description, kind ("download" | "builtin"), shape (H, W, C) or (D,), classes
    (class names), task (natural task), licence, citation, size (download bytes),
    homepage, mirrors (base URLs, canonical first), files ({split: (images, labels)}
    of RemoteFile), counts ({split: N}), max_value (full-scale raw value),
    cross_checks (functions of the full params returning a message, or "").
Value constraints are declared on each Param (``check=``) and validated by
``sweeplab.vocab.params.check_params``, like every other parameter table.
"""

from __future__ import annotations

from ..vocab.params import Interval, OneOf
from ..vocab.registry import Entry, Param, Registry
from . import loaders
from .download import RemoteFile as RF
from .synthetic import FUNCTIONS

DATASETS = Registry("dataset")

DIGITS = [str(i) for i in range(10)]

# Generated datasets: sizes that fit memory, seeds NumPy accepts.
_SEED = Param("seed", 0, "generation seed (the dataset itself; splits use the data seed)",
              check=Interval(int, 0, 2**32 - 1))
_NOISE_STD = Interval(float, 0, None)
MAX_PIXELS = 2**31


def _pixels(p: dict) -> str:
    n = p["n_images"] * p["size"] ** 2
    return f"n_images x size^2 = {n:,} pixels, more than the {MAX_PIXELS:,} accepted" if n > MAX_PIXELS else ""


DATASETS.add(Entry(
    "mnist", loaders.load_mnist_like,
    doc="MNIST handwritten digits, 28x28 grayscale, 60,000 train / 10,000 test.",
    meta=dict(
        kind="download", shape=(28, 28, 1), classes=DIGITS, task="multiclass",
        licence="CC BY-SA 3.0 (Y. LeCun and C. Cortes)",
        citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, Gradient-based learning applied "
                 "to document recognition, Proc. IEEE 86(11), 1998.",
        homepage="http://yann.lecun.com/exdb/mnist/",
        mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"],
        files={
            "train": (RF("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                         "6bbc9ace898e44ae57da46a324031adb", 9912422),
                      RF("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                         "a25bea736e30d166cdddb491f175f624", 28881)),
            "test": (RF("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                        "2646ac647ad5339dbf082846283269ea", 1648877),
                     RF("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                        "27ae3e4e09519cfbb04c329615203637", 4542)),
        },
        counts={"train": 60000, "test": 10000}, size=11594722, max_value=255,
        system_dirs=[],
    ),
))

DATASETS.add(Entry(
    "fashion-mnist", loaders.load_mnist_like, aliases=("fashion_mnist", "fashion"),
    doc="Fashion-MNIST (Zalando) clothing images, 28x28 grayscale, 60,000 train / 10,000 test.",
    meta=dict(
        kind="download", shape=(28, 28, 1),
        classes=["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"],
        task="multiclass", licence="MIT (Zalando SE)",
        citation="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST: a Novel Image Dataset for "
                 "Benchmarking Machine Learning Algorithms, arXiv:1708.07747, 2017.",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
        files={
            "train": (RF("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                         "f4a8712d7a061bf5bd6d2ca38dc4d50a", 26421880),
                      RF("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                         "9018921c3c673c538a1fc5bad174d6f9", 29515)),
            "test": (RF("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                        "8181f5470baa50b63fa0f6fddb340f0a", 4422102),
                     RF("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                        "15d484375f8d13e6eb1aabb0c3f46965", 5148)),
        },
        counts={"train": 60000, "test": 10000}, size=30878645, max_value=255,
        # Debian's package dataset-fashion-mnist installs the same files here (read only)
        system_dirs=["/usr/share/datasets/fashion-mnist"],
    ),
))

DATASETS.add(Entry(
    "svhn", loaders.load_svhn,
    doc="SVHN cropped digits (Street View House Numbers), 32x32 RGB, 73,257 train / 26,032 test.",
    meta=dict(
        kind="download", shape=(32, 32, 3), classes=DIGITS, task="multiclass",
        licence="non-commercial use only (Stanford University)",
        citation="Y. Netzer, T. Wang, A. Coates, A. Bissacco, B. Wu, A. Y. Ng, Reading Digits in "
                 "Natural Images with Unsupervised Feature Learning, NIPS Workshop on Deep "
                 "Learning and Unsupervised Feature Learning, 2011.",
        homepage="http://ufldl.stanford.edu/housenumbers/",
        mirrors=["http://ufldl.stanford.edu/housenumbers/",
                 "https://web.archive.org/web/2021id_/http://ufldl.stanford.edu/housenumbers/"],
        files={
            "train": (RF("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", None, 182040794),),
            "test": (RF("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", None, 64275384),),
        },
        counts={"train": 73257, "test": 26032}, size=246316178, max_value=255,
        system_dirs=[],
    ),
))

DATASETS.add(Entry(
    "digits", loaders.load_digits,
    doc="scikit-learn's bundled 8x8 handwritten digits (UCI), 1,797 images, values 0..16.",
    meta=dict(
        kind="builtin", shape=(8, 8, 1), classes=DIGITS, task="multiclass",
        licence="CC BY 4.0 (UCI ML repository), bundled with scikit-learn (BSD-3)",
        citation="E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI ML "
                 "Repository, 1998.",
        homepage="https://archive.ics.uci.edu/dataset/80", counts={"all": 1797}, size=0,
        max_value=16,
    ),
))

DATASETS.add(Entry(
    "synthetic2d", loaders.load_synthetic2d, aliases=("synthetic",),
    doc="2-D binary toy data: the labelling functions f1/f2/f3 of lab report 002 on uniform points in "
        "[-50, 50]^2, plus moons, circles, xor, spirals.",
    params=(
        Param("function", "f1", "labelling function: f1 (triangle), f2 (sinusoidal clusters), "
                                "f3 (Gaussian), moons, circles, xor, spirals", check=OneOf(*FUNCTIONS)),
        Param("n_samples", 4000, "number of points generated (before the test split)",
              check=Interval(int, 1, 10_000_000)),
        Param("noise", 0.0, "std of Gaussian noise added to the coordinates after labelling", check=_NOISE_STD),
        Param("box", 50.0, "f1/f2/f3: points are uniform in [-box, box]^2", check=Interval(float, 0, None)),
        _SEED,
    ),
    meta=dict(
        kind="builtin", shape=(2,), classes=["0", "1"], task="binary", licence="generated",
        citation="the labelling functions f1, f2, f3 of lab report 002 reproduced in docs/seeds.md", size=0, max_value=None,
    ),
))

DATASETS.add(Entry(
    "clocks", loaders.load_clocks,
    doc="Rendered analog clock faces (grayscale) labelled with hour (0-11) and minute (0-59).",
    params=(
        Param("size", 150, "image side in pixels", check=Interval(int, 1, 1024)),
        Param("n_images", 18000, "number of images", check=Interval(int, 1, 1_000_000)),
        Param("rotation", 30.0, "face rotation, uniform in +-rotation degrees (12 is marked)",
              check=Interval(float, 0, None)),
        Param("noise", 10.0, "pixel noise std, uniform per image in 0..noise (0..255 scale)", check=_NOISE_STD),
        _SEED,
    ),
    meta=dict(
        kind="builtin", shape=(150, 150, 1), classes=[str(h) for h in range(12)],
        task="multihead", licence="generated", citation="the tell-the-time task of lab report 004 reproduced in docs/seeds.md",
        size=0, max_value=255, cross_checks=(_pixels,),
    ),
))


def info(name: str) -> Entry:
    """The registry entry of a dataset (raises UnknownNameError listing accepted names)."""
    return DATASETS.get(name)
