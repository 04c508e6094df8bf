"""Published number vs our seeds: the verdict rule, and the side-by-side table of a run.

The rule (:func:`verdict`): with our per-seed values ``x_1..x_n`` (mean ``m``,
sample std ``s``, ddof = 1), the interval ``[m - 2s, m + 2s]`` (widened by the
published number's rounding, half a unit of its last printed digit) is what our
seeds support.

* ``agrees``: the published value lies inside the interval (for a bound such as
  "under 4 minutes never reached", ``>= 4``: the interval reaches the bound's side);
* ``differs``: it does not; the gap ``published - m`` is given, and in std units;
* ``not comparable``: no finite value of ours (the reason says why).

With ``n < 3`` the verdict is marked weak (``n = 1`` has no std: only rounding).

:func:`compare` matches each published row to the configuration of a run whose
swept values equal the row's ``setting`` (``sweeplab.values.same``) and returns
one :class:`Comparison` per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from sweeplab import values as V

AGREES, DIFFERS, NOT_COMPARABLE = "agrees", "differs", "not comparable"
K_STD = 2.0  # published inside mean +- K_STD std agrees
MIN_STRONG_N = 3  # fewer seeds than this: the verdict is weak


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing one published number with our seeds.

    Attributes:
        kind: ``agrees``, ``differs`` or ``not comparable``.
        n, mean, std: our finite per-seed values (std None when n < 2).
        gap: ``published - mean`` (None when not comparable).
        gap_std: ``gap / std`` (None when std is None or 0).
        weak: fewer than 3 seeds.
        reason: one sentence (why not comparable; what a weak or a bound verdict means).
    """

    kind: str
    n: int = 0
    mean: float | None = None
    std: float | None = None
    gap: float | None = None
    gap_std: float | None = None
    weak: bool = False
    reason: str = ""

    def __str__(self) -> str:
        if self.kind == NOT_COMPARABLE:
            return f"{self.kind}: {self.reason}" if self.reason else self.kind
        text = self.kind
        if self.kind == DIFFERS:
            text += f" ({self.gap_std:+.1f} std)" if self.gap_std is not None else f" (gap {self.gap:+.4g})"
        if self.weak:
            text += f", weak (n = {self.n})"
        return text


def verdict(published: float, ours: Iterable[float], *, relation: str = "=",
            resolution: float = 0.0, k: float = K_STD) -> Verdict:
    """Compare one published number with our per-seed values.

    Args:
        published: the published value, in the metric's units.
        ours: one value per seed (NaN/inf, e.g. a diverged trial, are left out and said so).
        relation: ``=`` / ``~`` (the report gives a value), or ``<``, ``<=``, ``>``, ``>=``
            (the report gives a bound: the true value is below / above ``published``).
        resolution: rounding half-width of the printed number, in metric units.
        k: width of the interval in std units.

    Returns:
        A :class:`Verdict`.

    Example:
        >>> str(verdict(0.9971, [0.9968, 0.9972, 0.9975]))
        'agrees'
    """
    values = [float(v) for v in ours]
    finite = [v for v in values if math.isfinite(v)]
    dropped = len(values) - len(finite)
    if not finite:
        why = "no finished trial of ours" if not values else f"all {len(values)} of our values are not finite"
        return Verdict(NOT_COMPARABLE, reason=why)
    n = len(finite)
    mean = math.fsum(finite) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (n - 1)) if n > 1 else None
    spread = k * (std or 0.0) + max(resolution, 0.0)
    lo, hi = mean - spread, mean + spread
    if relation in ("=", "~"):
        ok = lo <= published <= hi
    elif relation in ("<", "<="):
        ok = lo < published if relation == "<" else lo <= published
    elif relation in (">", ">="):
        ok = hi > published if relation == ">" else hi >= published
    else:
        raise ValueError(f"relation: {relation!r}: accepted: =, ~, <, <=, >, >=")
    gap = published - mean
    gap_std = gap / std if std else None
    notes = []
    if n < MIN_STRONG_N:
        notes.append("one seed: no spread, only the rounding" if n == 1 else f"only {n} seeds")
    if dropped:
        notes.append(f"{dropped} non-finite value(s) left out")
    return Verdict(AGREES if ok else DIFFERS, n, mean, std, gap, gap_std, n < MIN_STRONG_N, "; ".join(notes))


# ---------------------------------------------------------------- a run's table

@dataclass(frozen=True)
class Comparison:
    """One line of the side-by-side table: the published row, our values, the verdict."""

    row: Any  # sweeplab.reproduce.published.Row
    setting: str
    published: str
    ours: str
    verdict: Verdict
    values: tuple[float, ...] = ()
    #: what a reduced size (``sweeplab reproduce --size``) cut of this row's study ('' at full size)
    reduced: str = ""

    def as_dict(self) -> dict[str, Any]:
        verdict = str(self.verdict)
        if self.reduced:
            verdict += f" (reduced: {self.reduced})"
        return {"id": self.row.id, "ref": self.row.ref, "setting": self.setting, "metric": self.row.metric,
                "published": self.published, "ours": self.ours, "verdict": verdict}


def compare(rows: Iterable[Any], runs: Mapping[str, Any]) -> list[Comparison]:
    """Match published rows to runs and give each a verdict.

    Args:
        rows: :class:`~sweeplab.reproduce.published.Row` objects (``Published.rows``).
        runs: study name -> a run directory (or an object with ``.trials`` and ``.epochs``
            DataFrames, as :func:`sweeplab.load` returns). A row whose study is not
            in ``runs`` is ``not comparable`` ("study not run").

    Returns:
        One :class:`Comparison` per row, in order.
    """
    loaded: dict[str, Any] = {}
    out = []
    for row in rows:
        setting = _setting_label(row.setting, row.baseline)
        published = _published_label(row)
        if not row.comparable:
            out.append(Comparison(row, setting, published, "", Verdict(NOT_COMPARABLE, reason=row.reason)))
            continue
        if row.study not in runs:
            out.append(Comparison(row, setting, published, "", Verdict(NOT_COMPARABLE, reason="study not run")))
            continue
        if row.study not in loaded:
            loaded[row.study] = _load(runs[row.study])
        try:
            vals = per_seed_values(loaded[row.study], row)
        except LookupError as e:
            out.append(Comparison(row, setting, published, "", Verdict(NOT_COMPARABLE, reason=str(e))))
            continue
        v = verdict(row.value, vals, relation=row.relation, resolution=row.resolution)
        out.append(Comparison(row, setting, published, _ours_label(v, row), v, tuple(vals)))
    return out


def per_seed_values(run: Any, row: Any) -> list[float]:
    """Our value of ``row.metric`` for each seed of the configuration ``row.setting`` picks.

    Folds of a cross-validated trial are averaged per seed (GridSearchCV's score). A
    difference row (``row.baseline``) gives ``setting - baseline`` paired by seed.

    Raises:
        LookupError: the setting matches no configuration or several, or the metric
            (or epoch) is not in the run.
    """
    ours = _config_values(run, row, row.setting)
    if row.baseline is None:
        return [ours[s] for s in sorted(ours)]
    base = _config_values(run, row, row.baseline)
    seeds = sorted(set(ours) & set(base))
    if not seeds:
        raise LookupError("the setting and its baseline share no seed")
    return [ours[s] - base[s] for s in seeds]


def _config_values(run: Any, row: Any, setting: Mapping[str, Any]) -> dict[int, float]:
    trials = run.trials
    if "trial_id" not in trials.columns:
        trials = trials.rename_axis("trial_id").reset_index()
    mask = [True] * len(trials)
    for axis, want in setting.items():
        if axis not in trials.columns:
            raise LookupError(f"the run has no swept column {axis!r}")
        mask = [m and V.same(v, want) for m, v in zip(mask, trials[axis])]
    chosen = trials[mask]
    configs = set(chosen["config_id"]) if "config_id" in chosen.columns else {None}
    if chosen.empty:
        raise LookupError(f"no configuration of the run has {_setting_label(setting, None)}")
    if len(configs) > 1:
        raise LookupError(f"{len(configs)} configurations match {_setting_label(setting, None)}: give more axes")
    per_trial = _metric_per_trial(run, chosen, row)
    seed_col = "repeat" if "repeat" in chosen.columns else "seed"
    by_seed: dict[int, list[float]] = {}
    for tid, seed in zip(chosen["trial_id"], chosen[seed_col]):
        by_seed.setdefault(int(seed), []).append(per_trial.get(tid, math.nan))
    return {s: math.fsum(v) / len(v) for s, v in by_seed.items()}


def _metric_per_trial(run: Any, chosen: Any, row: Any) -> dict[str, float]:
    metric = row.metric
    if row.at == "final":
        if metric not in chosen.columns:
            raise LookupError(f"the run records no {metric!r}")
        return {t: _float(v) for t, v in zip(chosen["trial_id"], chosen[metric])}
    split, _, name = metric.partition("_")
    epochs = run.epochs
    e = epochs[(epochs["split"] == split) & (epochs["metric"] == name) & epochs["trial_id"].isin(set(chosen["trial_id"]))]
    if e.empty:
        raise LookupError(f"the run has no per-epoch {metric!r}")
    if row.at == "best":
        from sweeplab.analysis.stats import lower_is_better

        agg = e.groupby("trial_id")["value"].min() if lower_is_better(metric) else e.groupby("trial_id")["value"].max()
        return {t: float(v) for t, v in agg.items()}
    at = e[e["epoch"] == int(row.at)]
    if at.empty:
        raise LookupError(f"the run has no epoch {row.at} of {metric!r}")
    return {t: float(v) for t, v in zip(at["trial_id"], at["value"])}


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _load(run: Any) -> Any:
    if hasattr(run, "trials") and hasattr(run, "epochs"):
        return run
    import sweeplab

    return sweeplab.load(run)


# ---------------------------------------------------------------- text

def _setting_label(setting: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    def one(s):
        return ", ".join(f"{k.rsplit('.', 1)[-1]} = {V.label(V.canonical(v))}" for k, v in s.items()) or "(the study)"
    return one(setting) + (f" minus {one(baseline)}" if baseline is not None else "")


def _published_label(row: Any) -> str:
    if row.printed is None:
        return ""
    unit = {"percent": " %", "minutes": " min", "seconds": " s"}.get(row.unit, "")
    rel = "" if row.relation == "=" else ("about " if row.relation == "~" else f"{row.relation} ")
    return f"{rel}{row.printed}{unit}"


def _ours_label(v: Verdict, row: Any) -> str:
    if v.mean is None:
        return ""
    scale = {"percent": 100.0, "minutes": 60.0}.get(row.unit, 1.0)
    unit = {"percent": " %", "minutes": " min", "seconds": " s"}.get(row.unit, "")
    digits = max(len((row.printed or "").partition(".")[2]), 1) + 1
    mean = f"{v.mean * scale:.{digits}f}"
    std = f" ± {v.std * scale:.{digits}f}" if v.std is not None else ""
    return f"{mean}{std}{unit} (n = {v.n})"


def markdown_table(comparisons: Sequence[Comparison]) -> str:
    """The side-by-side table as Markdown (id, reference, setting, metric, published, ours, verdict)."""
    head = "| id | ref | setting | metric | published | ours (mean ± std, n) | verdict |\n|---|---|---|---|---|---|---|"
    lines = [head]
    for c in comparisons:
        d = c.as_dict()
        cells = [str(d[k] or "") .replace("|", "\\|") for k in ("id", "ref", "setting", "metric", "published", "ours", "verdict")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
