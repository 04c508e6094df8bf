"""Real MNIST: 784-64-10 relu/adam, batch 32, 5 epochs reaches >= 97% test accuracy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweeplab.engine.trainer import train_group
from sweeplab.spec.expand import study_from_text

DATA = os.environ.get("SWEEPLAB_DATA")
HAVE_MNIST = bool(DATA) and (Path(DATA) / "mnist" / "train-images-idx3-ubyte.gz").exists()

STUDY = """
[study]
name = "mnist-64"
seed = 0

[data]
dataset = "mnist"

[model]
mlp = { hidden = [64], activation = "relu" }

[train]
optimizer = "adam"
batch_size = 32
epochs = 5
metrics = ["accuracy"]
"""


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MNIST, reason="needs a real MNIST copy: set SWEEPLAB_DATA to a folder with "
                                          "mnist/*-ubyte.gz (e.g. ../shared/data)")
def test_mnist_mlp_reaches_97_percent():
    study = study_from_text(STUDY)
    (res,) = train_group(list(study.trials), study_seed=0)
    assert res.status == "finished" and res.epochs_run == 5
    assert res.test["accuracy"] >= 0.97, res.test
    losses = res.history[("train", "loss")]
    assert losses[-1] < losses[0]
    assert sum(sum(r) for r in res.confusion["output"]) == 10_000
