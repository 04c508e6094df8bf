"""The seed-004 "tell the time" network: one trunk, an hour classifier and a minute regressor."""

from __future__ import annotations

import numpy as np

from sweeplab.engine.trainer import train_group
from sweeplab.spec.expand import study_from_text

STUDY = """
[study]
name = "clocks-two-heads"
seed = 0
repeats = 2

[data]
dataset = "clocks"
params = { size = 32, n_images = 600 }
validation_split = 0.2

[model]
layers = [
  { type = "conv2d", filters = 8, kernel_size = 3, activation = "relu" },
  { type = "max_pooling2d", pool_size = 2 },
  { type = "batch_normalization" },
  { type = "flatten" },
  { type = "dense", units = 32, activation = "relu" },
]

[[model.heads]]
name = "hour"
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[[model.heads]]
name = "minute"
loss = "mae"
loss_weight = 0.1
metrics = ["mae"]

[train]
optimizer = "adam"
batch_size = 64
epochs = 3
"""


def test_two_heads_train_with_their_own_losses_and_metrics():
    study = study_from_text(STUDY)
    results = train_group(list(study.trials), study_seed=0)
    assert len(results) == 2
    for res in results:
        h = res.history
        for key in [("train", "loss"), ("train", "hour_loss"), ("train", "minute_loss"),
                    ("train", "hour_accuracy"), ("train", "minute_mae"), ("val", "hour_accuracy")]:
            assert key in h and len(h[key]) == 3, key
        # the total loss is the weighted sum of the head losses (Keras)
        np.testing.assert_allclose(h[("train", "loss")], np.add(h[("train", "hour_loss")],
                                                                 0.1 * np.asarray(h[("train", "minute_loss")])),
                                   rtol=1e-5)
        # mae is the minute head's loss, so the two agree
        np.testing.assert_allclose(h[("train", "minute_loss")], h[("train", "minute_mae")], rtol=1e-5)
        assert set(res.test) >= {"loss", "hour_accuracy", "minute_mae"}
        assert np.array(res.confusion["hour"]).shape == (12, 12)
        assert "minute" not in res.confusion
        assert res.predictions["proba/hour"].shape[1] == 12
        # batch-norm moving statistics are saved with the parameters
        assert any(k.startswith("state:batch_normalization/moving_mean") for k in res.params)
    assert results[0].history[("train", "loss")] != results[1].history[("train", "loss")]
