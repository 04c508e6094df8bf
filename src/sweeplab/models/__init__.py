"""Models: layer table, model building, Keras-style summary, inference from stored trials.

``predict`` and ``feature_maps`` (:mod:`sweeplab.models.inference`) are imported on
first use, so importing the layer table or the model core does not load the façade.
"""

__all__ = ["feature_maps", "predict"]


def __getattr__(name):
    if name in __all__:
        from sweeplab.models import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'sweeplab.models' has no attribute {name!r}")
