"""Models: layer table, model building, Keras-style summary, inference from stored trials."""

from sweeplab.models.inference import feature_maps, predict

__all__ = ["feature_maps", "predict"]
