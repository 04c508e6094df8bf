"""Tell-the-time errors of seed 004, derived from a trial's stored test predictions.

The clocks studies train two heads: ``hour`` (12-class classification, test accuracy
recorded by the engine) and ``minute`` (regression on ``minute * target_scale``, test
mae recorded). The "common sense" error the report asks for needs both heads at once,
so it is computed here from ``predictions.npz`` (``y_true/hour``, ``y_pred/hour``,
``y_true/minute``, ``y_pred/minute``), which every finished trial stores; the engine
is unchanged. Times are read as ``60 * hour + minute`` on a 12-hour dial:

* ``minute_error``: mean ``|minute - predicted minute|`` in minutes (Keras's mae / scale);
* ``minute_error_cyclic``: the same, wrapped at the hour (59 vs 1 is 2 minutes);
* ``time_error``: mean ``min(d, 720 - d)``, ``d = |t - predicted t| mod 720``, in minutes
  (11:58 read as 0:01 is 3 minutes, not 717).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

DIAL = 720.0  # minutes on a 12-hour dial


def wrapped(d: np.ndarray, period: float) -> np.ndarray:
    """``|d|`` wrapped onto a circle of ``period``: the shorter way round."""
    d = np.mod(np.abs(d), period)
    return np.minimum(d, period - d)


def time_errors(preds: Mapping[str, np.ndarray], target_scale: float) -> dict[str, float]:
    """Hour accuracy and the minute / time errors (minutes) of one trial's test predictions.

    Args:
        preds: the trial's stored predictions (``run.predictions(trial_id)``).
        target_scale: the study's ``data.task.target_scale`` (1/60: minute targets in hours).

    Raises:
        KeyError: the predictions lack an hour or a minute head.
    """
    h_true = np.asarray(preds["y_true/hour"], np.float64).reshape(-1)
    h_pred = np.asarray(preds["y_pred/hour"], np.float64).reshape(-1)
    m_true = np.asarray(preds["y_true/minute"], np.float64).reshape(-1) / target_scale
    m_pred = np.asarray(preds["y_pred/minute"], np.float64).reshape(-1) / target_scale
    t_true, t_pred = 60.0 * h_true + m_true, 60.0 * h_pred + m_pred
    return {
        "hour_accuracy": float(np.mean(h_true == h_pred)),
        "minute_error": float(np.mean(np.abs(m_true - m_pred))),
        "minute_error_cyclic": float(np.mean(wrapped(m_true - m_pred, 60.0))),
        "time_error": float(np.mean(wrapped(t_true - t_pred, DIAL))),
    }
