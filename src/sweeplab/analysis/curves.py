"""Per-epoch histories: learning curves (single trial and mean ± std over
seeds per sweep value) and gradient flow (per-layer gradient norms).

The epochs frame is long: one row per ``(trial_id, epoch, split, metric, value)``
with 1-based epochs; gradient norms use split ``grad`` and metric
``<layer>/kernel`` or ``<layer>/bias``.
"""

from __future__ import annotations

import re

import pandas as pd

from sweeplab import values as V


def trial_history(epochs: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """One trial's history, wide: index epoch, columns ``<split>_<metric>`` (no gradients)."""
    h = epochs[(epochs["trial_id"] == trial_id) & (epochs["split"] != "grad")]
    wide = h.pivot_table(index="epoch", columns=["split", "metric"], values="value", aggfunc="mean")
    wide.columns = [f"{s}_{m}" for s, m in wide.columns]
    return wide.sort_index()


def keras_history(epochs: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """One trial's history with the names of Keras's ``History.history``:
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (and ``test_*`` when
    the test data was evaluated each epoch); index ``epoch`` from 1."""
    wide = trial_history(epochs, trial_id)
    wide.columns = [c[len("train_"):] if c.startswith("train_") else c for c in wide.columns]
    return wide


def mean_curves(epochs: pd.DataFrame, trials: pd.DataFrame, axis: str | None, split: str, metric: str) -> pd.DataFrame:
    """Mean and std over trials of ``split/metric`` per epoch, one group per
    value of ``axis`` (all trials together when ``axis`` is None).

    Trials that stopped early contribute only the epochs they ran; ``n``
    counts how many trials an epoch's mean is over.

    Returns:
        Long frame with columns ``value`` (the axis value, or ``"all"``),
        ``epoch``, ``mean``, ``std``, ``n``.
    """
    sel = epochs[(epochs["split"] == split) & (epochs["metric"] == metric)][["trial_id", "epoch", "value"]]
    if sel.empty:
        return pd.DataFrame(columns=["value", "epoch", "mean", "std", "n"])
    if axis is None:
        groups = pd.Series("all", index=trials.index, dtype=object)
    else:
        groups = trials[axis].map(V.canonical)
    distinct = V.sort_values(groups.dropna()) if axis is not None else ["all"]
    code = {v: i for i, v in enumerate(distinct)}
    sel = sel.assign(code_=sel["trial_id"].map(lambda t: code.get(groups.get(t), -1) if t in groups.index else -1))
    sel = sel[sel["code_"] >= 0]
    g = sel.groupby(["code_", "epoch"], sort=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()}).reset_index()
    values = pd.Series([distinct[c] for c in out["code_"]], index=out.index, dtype=object)
    out.insert(0, "value", values)
    return out.drop(columns=["code_"]).reset_index(drop=True)


_LAYER_NUM = re.compile(r"(\d+)")


def layer_order(name: str):
    """Natural sort key: ``dense_2`` before ``dense_10``."""
    return [int(t) if t.isdigit() else t for t in _LAYER_NUM.split(name)]


def gradient_flow(epochs: pd.DataFrame, trial_id: str | None = None) -> dict[str, pd.DataFrame]:
    """Per-layer gradient norms over training, from split ``grad``.

    Args:
        epochs: the epochs frame (or one trial's part of it).
        trial_id: which trial; may be omitted when the frame holds one trial.

    Returns:
        ``{"kernel": frame, "bias": frame}``: index epoch, one column per
        layer in network order (only kinds that were recorded).
    """
    g = epochs[epochs["split"] == "grad"]
    if trial_id is not None:
        g = g[g["trial_id"] == trial_id]
    elif "trial_id" in g and g["trial_id"].nunique() > 1:
        raise ValueError("gradient_flow: the frame holds several trials; pass trial_id")
    out = {}
    if g.empty:
        return out
    parts = g["metric"].str.rsplit("/", n=1, expand=True)
    g = g.assign(layer=parts[0], kind=parts[1])
    for kind in ("kernel", "bias"):
        k = g[g["kind"] == kind]
        if k.empty:
            continue
        wide = k.pivot_table(index="epoch", columns="layer", values="value", aggfunc="mean").sort_index()
        out[kind] = wide[sorted(wide.columns, key=layer_order)]
    return out


def has_gradients(epochs: pd.DataFrame) -> bool:
    """True when any trial recorded gradient norms."""
    return bool((epochs["split"] == "grad").any())


def final_epoch_values(epochs: pd.DataFrame) -> pd.DataFrame:
    """Last recorded value of every ``split_metric`` per trial (wide, index trial_id)."""
    e = epochs[epochs["split"] != "grad"].sort_values("epoch")
    last = e.groupby(["trial_id", "split", "metric"], sort=False)["value"].last().unstack(["split", "metric"])
    last.columns = [f"{s}_{m}" for s, m in last.columns]
    return last


__all__ = ["trial_history", "keras_history", "mean_curves", "gradient_flow", "has_gradients", "layer_order", "final_epoch_values"]
