"""Trained models out of sweeplab: ``.keras`` files (:mod:`.keras`) and plain ``.npz`` (:mod:`.npz`).

Neither is imported by the rest of sweeplab; :mod:`.keras` imports Keras (the
optional extra ``sweeplab[keras]``) only when called.
"""


from sweeplab.errors import UserError


class ExportError(UserError):
    """A model that cannot be written in the asked format (one line, names the layer)."""


FORMATS = ("keras", "npz")
