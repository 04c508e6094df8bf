"""The seed reports' published numbers, as data: ``reproduce/published/seedNNN.toml``.

One file per seed report. It holds what the report says (its numbers, verbatim,
with the sentence or table line they come from) and how each number maps onto a
built-in study: the study name, the swept values that pick the configuration
(``setting``, keyed by the study's sweep axes), the sweeplab metric and the
epoch it is read at. Nothing here trains or reads a run; see
:mod:`sweeplab.reproduce.verdict` for the comparison.

File layout::

    [report]                       # who, when, what the report states overall
    seed = "000"
    title = "..."; authors = "..."; date = "..."; source = "000_....txt"
    framework = "..."              # what the report says it ran (Keras version if printed)

    [experiments."seed000-activation"]   # one per study the rows use
    stated = "..."                 # protocol the report states (epochs, batch, split, runs)
    unstated = "..."               # what it leaves out

    [[row]]
    id = "T1-sigmoid-acc"          # unique in the file
    ref = "Table I"                # the report's table / figure / section
    study = "seed000-activation"   # a built-in study (omit only when comparable = false)
    setting = { "model.mlp.activation" = "sigmoid" }
    metric = "test_accuracy"       # a column of a run's trials table: split_metric
    split = "test (official 10,000 MNIST test images)"   # the split the REPORT used
    at = "final"                   # "final", "best" (max, or min for losses/errors) or an epoch number
    printed = "99.71"              # the number exactly as printed
    unit = "percent"               # percent (x 0.01), fraction, plain, minutes (x 1/60), seconds
    relation = "="                 # "=", "~" (the report says about/around), "<", "<=", ">", ">="
    quote = "sigmoid 99.71 0.034"  # where the number is in the report (whitespace-insensitive)
    comparable = true              # false: reason says why a run cannot be compared with it
    baseline = { ... }             # optional: the number is metric(setting) - metric(baseline)
    resolution = "0"               # optional, in printed units: overrides half a unit of the last digit
    note = "..."                   # optional

Every mistake is one line naming the file, the row, the field, the value and
what is accepted (:class:`PublishedError`, a :class:`~sweeplab.spec.errors.StudyError`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from sweeplab.spec.errors import StudyError, short_repr

UNITS: dict[str, Decimal] = {
    "percent": Decimal("0.01"),   # 99.71 (%) -> 0.9971
    "fraction": Decimal(1),       # 0.9302 -> 0.9302
    "plain": Decimal(1),          # losses, counts, parameters
    "minutes": Decimal(1) / Decimal(60),  # minute error -> the clocks studies' minute/60 scale
    "seconds": Decimal(1),
}
RELATIONS = ("=", "~", "<", "<=", ">", ">=")
SPLITS = ("train", "val", "test")
_RUN_COLUMNS = ("n_params", "seconds_per_epoch")  # per-trial facts that are not split metrics
_ROW_KEYS = {"id", "ref", "study", "setting", "metric", "split", "at", "printed", "unit", "relation",
             "quote", "comparable", "reason", "baseline", "resolution", "note"}
_REQUIRED = ("id", "ref", "split", "quote", "comparable")
_COMPARABLE_REQUIRED = ("study", "metric", "printed", "unit")
_REPORT_KEYS = {"seed", "title", "authors", "date", "source", "framework"}
_EXPERIMENT_KEYS = {"stated", "unstated"}
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
SEEDS = ("000", "001", "002", "003", "004")


class PublishedError(StudyError):
    """A mistake in a published-numbers file: one line (file, row, field, value, accepted)."""


@dataclass(frozen=True)
class Experiment:
    """What a report states about one experiment's protocol, and what it leaves out."""

    study: str
    stated: str
    unstated: str


@dataclass(frozen=True)
class Row:
    """One published number (or one claim a run cannot be compared with).

    ``value`` is in the units of the sweeplab metric (``printed`` x the unit's scale);
    ``resolution`` is the rounding half-width of the printed number in those units.
    """

    id: str
    ref: str
    study: str | None
    setting: Mapping[str, Any]
    metric: str | None
    split: str
    at: str | int
    printed: str | None
    unit: str | None
    relation: str
    quote: str
    comparable: bool
    reason: str = ""
    baseline: Mapping[str, Any] | None = None
    resolution_printed: str | None = None
    note: str = ""
    experiment: Experiment | None = field(default=None, compare=False)

    @property
    def value(self) -> float | None:
        """The published number in metric units (99.71 percent -> 0.9971)."""
        if self.printed is None or self.unit is None:
            return None
        return float(Decimal(self.printed) * UNITS[self.unit])

    @property
    def resolution(self) -> float:
        """Half a unit of the last printed digit ("99.71" % -> 0.00005), or the given override."""
        if self.printed is None or self.unit is None:
            return 0.0
        if self.resolution_printed is not None:
            half = Decimal(self.resolution_printed)
        else:
            decimals = len(self.printed.partition(".")[2])
            half = Decimal(5) * Decimal(10) ** -(decimals + 1)
        return float(half * UNITS[self.unit])

    @property
    def stated(self) -> str:
        return self.experiment.stated if self.experiment else ""

    @property
    def unstated(self) -> str:
        return self.experiment.unstated if self.experiment else ""


@dataclass(frozen=True)
class Published:
    """All published numbers of one seed report."""

    seed: str
    title: str
    authors: str
    date: str
    source: str
    framework: str
    experiments: Mapping[str, Experiment]
    rows: tuple[Row, ...]
    path: str = ""

    def comparable(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.comparable)


# ---------------------------------------------------------------- loading

def published_dir() -> Path:
    """The folder holding the packaged ``seedNNN.toml`` files."""
    return Path(str(resources.files("sweeplab.reproduce").joinpath("published")))


def published_files() -> list[Path]:
    """Every packaged published-numbers file, in seed order."""
    return sorted(published_dir().glob("seed*.toml"))


def load_published(seed_or_path: str | Path) -> Published:
    """Load and validate one file: a seed (``"000"``, ``"seed000"``) or a path.

    Raises:
        PublishedError: one line naming the file, the row, the field, the value and what is accepted.
    """
    text = str(seed_or_path)
    m = re.fullmatch(r"(?:seed)?([0-9]{3})", text)
    if m and not Path(text).exists():
        path = published_dir() / f"seed{m.group(1)}.toml"
        if not path.exists():
            known = ", ".join(p.stem.removeprefix("seed") for p in published_files())
            raise PublishedError(f"{text}: no published numbers for this seed; accepted: {known}")
    else:
        path = Path(seed_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PublishedError(f"{path.name}: not valid TOML: {e}") from None
    return parse_published(raw, path.name)


def parse_published(raw: Mapping[str, Any], source: str = "<published>") -> Published:
    """Validate a parsed file (a dict from TOML); see the module docstring for the layout."""
    _keys(source, "top level", raw, {"report", "experiments", "row"})
    report = _table(source, "report", raw.get("report"))
    _keys(source, "[report]", report, _REPORT_KEYS)
    rep = {k: _text(source, f"report.{k}", report.get(k), required=True) for k in sorted(_REPORT_KEYS)}
    if rep["seed"] not in SEEDS:
        _fail(source, "field 'report.seed'", rep["seed"], f"one of {', '.join(SEEDS)}")
    experiments = {}
    for name, exp in _table(source, "experiments", raw.get("experiments", {})).items():
        exp = _table(source, f"experiments.{name}", exp)
        _keys(source, f"[experiments.{name}]", exp, _EXPERIMENT_KEYS)
        experiments[name] = Experiment(name, *(_text(source, f"experiments.{name}.{k}", exp.get(k),
                                                     required=True) for k in ("stated", "unstated")))
    items = raw.get("row")
    if not isinstance(items, list) or not items:
        _fail(source, "field 'row'", items, "a non-empty array of [[row]] tables")
    rows, seen = [], set()
    for i, item in enumerate(items, 1):
        row = _row(source, i, item, experiments)
        if row.id in seen:
            _fail(source, f"row {i}: field 'id'", row.id, "an id not used by an earlier row")
        seen.add(row.id)
        rows.append(row)
    used = {r.study for r in rows if r.study}
    for name in sorted(used - set(experiments)):
        _fail(source, "[experiments]", name, "an [experiments.\"<study>\"] table for every study the rows use")
    return Published(experiments=experiments, rows=tuple(rows), path=source, **rep)


def _row(source: str, i: int, item: Any, experiments: Mapping[str, Experiment]) -> Row:
    where = f"row {i}"
    if not isinstance(item, dict):
        _fail(source, where, item, "a [[row]] table")
    if isinstance(item.get("id"), str):
        where = f"row {i} ({item['id']})"
    _keys(source, where, item, _ROW_KEYS)
    for k in _REQUIRED:
        if k not in item:
            _fail(source, f"{where}: field {k!r}", "(missing)", "a value")
    comparable = item["comparable"]
    if not isinstance(comparable, bool):
        _fail(source, f"{where}: field 'comparable'", comparable, "true or false")
    if comparable:
        for k in _COMPARABLE_REQUIRED:
            if k not in item:
                _fail(source, f"{where}: field {k!r}", "(missing)", "a value (required when comparable = true)")
    elif not item.get("reason"):
        _fail(source, f"{where}: field 'reason'", item.get("reason", "(missing)"),
              "a sentence saying why a run cannot be compared (required when comparable = false)")
    f = lambda k, **kw: _text(source, f"{where}: field {k!r}", item.get(k), where_is_row=True, **kw)  # noqa: E731
    metric = f("metric")
    if metric is not None and metric not in _RUN_COLUMNS and metric.split("_", 1)[0] not in SPLITS:
        _fail(source, f"{where}: field 'metric'", metric,
              f"a trials-table column: train_/val_/test_<metric> (test_accuracy, val_loss, ...) or {', '.join(_RUN_COLUMNS)}")
    at = item.get("at", "final")
    if not (at in ("final", "best") or (isinstance(at, int) and not isinstance(at, bool) and at >= 1)):
        _fail(source, f"{where}: field 'at'", at, '"final", "best" or an epoch number >= 1')
    printed, unit = f("printed"), f("unit")
    if printed is not None and not _NUMBER.match(printed):
        _fail(source, f"{where}: field 'printed'", printed, 'the number as printed, digits with an optional decimal part ("99.71")')
    if unit is not None and unit not in UNITS:
        _fail(source, f"{where}: field 'unit'", unit, f"one of {', '.join(UNITS)}")
    relation = f("relation") or "="
    if relation not in RELATIONS:
        _fail(source, f"{where}: field 'relation'", relation, f"one of {', '.join(RELATIONS)}")
    resolution = f("resolution")
    if resolution is not None and not _NUMBER.match(resolution):
        _fail(source, f"{where}: field 'resolution'", resolution, 'a non-negative number as text ("0", "0.05")')
    study = f("study")
    return Row(
        id=f("id", required=True), ref=f("ref", required=True), study=study,
        setting=_setting(source, f"{where}: field 'setting'", item.get("setting", {})),
        metric=metric, split=f("split", required=True), at=at, printed=printed, unit=unit,
        relation=relation, quote=f("quote", required=True), comparable=comparable,
        reason=f("reason") or "",
        baseline=_setting(source, f"{where}: field 'baseline'", item["baseline"]) if "baseline" in item else None,
        resolution_printed=resolution, note=f("note") or "",
        experiment=experiments.get(study) if study else None,
    )


def _setting(source: str, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(source, where, value, 'a table of sweep axis = value, e.g. { "train.batch_size" = 32 }')
    for key in value:
        if not re.fullmatch(r"(data|model|train)\.[\w.]+", key):
            _fail(source, f"{where}: key", key, "a swept path starting with data., model. or train.")
    return dict(value)


def _text(source: str, where: str, value: Any, *, required: bool = False, where_is_row: bool = False) -> str | None:
    if value is None:
        if required:
            _fail(source, where if where_is_row else f"field {where!r}", "(missing)", "a non-empty string")
        return None
    if not isinstance(value, str) or not value.strip():
        _fail(source, where if where_is_row else f"field {where!r}", value, "a non-empty string")
    return value


def _table(source: str, name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        _fail(source, f"field {name!r}", "(missing)" if value is None else value, "a table")
    return value


def _keys(source: str, where: str, table: Mapping, accepted: set[str]) -> None:
    for key in table:
        if key not in accepted:
            _fail(source, f"{where}: unknown key", key, f"accepted keys: {', '.join(sorted(accepted))}")


def _fail(source: str, where: str, value: Any, accepted: str):
    shown = value if isinstance(value, str) and value.startswith("(") else short_repr(value)
    raise PublishedError(f"{source}: {where}: {shown}: accepted: {accepted}")
