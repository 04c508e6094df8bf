"""Load a study file and expand its sweep into trials.

Trials = (grid over sweep axes, with ``zip`` groups varying together)
× repeats (seeds ``study.seed + r``) × cross-validation folds. Every trial's
configuration is validated here, before anything compiles.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sweeplab.data.spec import DataSpec
from sweeplab.errors import UserError
from sweeplab.spec.errors import StudyError, format_validation_error, short_repr
from sweeplab.spec.schema import ModelSpec, StudySpec, TrainSpec
from sweeplab.spec.space import Axis, parse_space, refuse_distributions
from sweeplab.spec.source import BUILTIN_DIR, builtin_studies, parse_text, read_text, resolve_path  # noqa: F401
from sweeplab.records import TrialRecord

SWEEPABLE = ("data", "model", "train")


class TrialSpec(BaseModel):
    """The sections one trial is built from; ``TrialSpec.model_validate(record.config)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: DataSpec
    model: ModelSpec
    train: TrainSpec

    def config(self) -> dict[str, Any]:
        """The sections as plain JSON-able data: a trial's ``TrialRecord.config``."""
        return {
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json", exclude_none=True),
            "train": self.train.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Study:
    """A validated study: the spec, its source text and its trials."""

    spec: StudySpec
    source: str
    text: str
    raw: dict[str, Any]
    trials: tuple[TrialRecord, ...]
    axes: tuple[str, ...]
    #: a search study's axes (``[search] strategy`` random, tpe or cmaes); its trials are made as it runs
    space: tuple[Axis, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.study.name

    @property
    def n_trials(self) -> int:
        """The trials the study trains: its grid's, or a search's ``n_trials`` x repeats x folds."""
        if not self.spec.is_search:
            return len(self.trials)
        return self.spec.search.n_trials * self.spec.study.repeats * (self.spec.train.cross_validation or 1)


def load_study(study: str | Path) -> Study:
    """Load, validate and expand a study file (or built-in study name).

    Raises:
        StudyError: one line naming the file, the field, the value and what is accepted.
        OSError: the file exists but cannot be read.
    """
    path = resolve_path(study)
    return study_from_text(read_text(path), str(path))


def study_from_text(text: str, source: str = "<study>") -> Study:
    raw = parse_text(text, source)
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as e:
        raise StudyError(format_validation_error(e, source=source, model=StudySpec)) from None
    except UserError as e:  # registry errors raised outside pydantic's wrapping (not any ValueError: bugs stay bugs)
        raise StudyError(f"{source}: {e}") from None
    if spec.is_search:
        space = parse_space(raw.get("sweep", {}), source)
        check_search(spec, raw, space, source)
        return Study(spec, source, text, raw, (), tuple(a.path for a in space), space)
    refuse_distributions(raw.get("sweep", {}), source, spec.search.strategy if spec.search else "grid")
    combos, axes = sweep_combinations(raw.get("sweep", {}), source, spec)
    trials = expand(spec, raw, combos, source)
    return Study(spec, source, text, raw, tuple(trials), tuple(axes))


# ---------------------------------------------------------------------------- search: sampling helpers
def corners(space: tuple[Axis, ...]) -> list[dict[str, Any]]:
    """Configurations that together use every bound and every choice of ``space`` (one axis varied at a time)."""
    base = {a.path: (a.choices[0] if a.kind == "choice" else _num(a, a.low)) for a in space}
    out = [base]
    for a in space:
        values = a.choices[1:] if a.kind == "choice" else [_num(a, a.high)]
        out += [{**base, a.path: v} for v in values]
    return out


def _num(axis: Axis, value):
    return int(value) if axis.kind == "int" else float(value)


def check_search(spec: StudySpec, raw: dict, space: tuple[Axis, ...], source: str) -> None:
    """Check a search study before anything runs: its trial count, and every bound and choice of its space.

    Raises:
        StudyError: too many trials, or a value of the space the field does not accept (one line).
    """
    for a in space:
        _check_path(source, a.path)
    search = spec.search
    if search.strategy == "cmaes":  # CMA-ES samples a vector of numbers: no categorical axis
        for a in space:
            if a.kind == "choice":
                raise StudyError(f"{source}: field 'sweep.\"{a.path}\"': {short_repr(list(a.choices))}: strategy "
                                 "\"cmaes\" samples numbers only; accepted: { loguniform | uniform | int = "
                                 "[low, high] }, or strategy = \"tpe\" or \"random\" for a choice")
    folds = spec.train.cross_validation or 1
    n = search.n_trials * spec.study.repeats * folds
    if n > spec.study.max_trials:
        raise StudyError(f"{source}: field 'search.n_trials': {search.n_trials:,}: {n:,} trials with "
                         f"{spec.study.repeats} repeat(s) x {folds} fold(s), more than study.max_trials = "
                         f"{spec.study.max_trials:,}; accepted: at most "
                         f"{spec.study.max_trials // (spec.study.repeats * folds):,}")
    for overrides in corners(space):
        expand_one(spec, raw, overrides, source)


def sweep_combinations(sweep: dict[str, Any], source: str,
                       spec: StudySpec | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Grid over independent axes; each ``[[sweep.zip]]`` table is one axis of tuples.

    With ``spec``, the number of trials (grid x repeats x folds) is checked against
    ``study.max_trials`` before the grid is built.
    """
    factors: list[list[dict[str, Any]]] = []
    axes: list[str] = []
    for key, values in sweep.items():
        if key == "zip":
            tables = values if isinstance(values, list) else [values]
            for i, table in enumerate(tables):
                if not isinstance(table, dict) or not table:
                    raise StudyError(f"{source}: field 'sweep.zip[{i}]': a table of axis = [values], "
                                     f"got {short_repr(table)}")
                lengths = {k: len(_values(source, f'zip[{i}]."{k}"', v)) for k, v in table.items()}
                if len(set(lengths.values())) != 1:
                    raise StudyError(f"{source}: field 'sweep.zip[{i}]': zipped axes need lists of one length, "
                                     f"got lengths {lengths}")
                for k in table:
                    _check_path(source, k)
                    axes.append(k)
                n = next(iter(lengths.values()))
                factors.append([{k: table[k][j] for k in table} for j in range(n)])
            continue
        _check_path(source, key)
        axes.append(key)
        factors.append([{key: v} for v in _values(source, f'"{key}"', values)])
    if spec is not None:
        check_trial_count(spec, factors, source)
    combos = [dict(kv for part in prod for kv in part.items()) for prod in itertools.product(*factors)]
    return combos or [{}], axes


def _values(source, label, values) -> list:
    if not isinstance(values, list) or not values:
        raise StudyError(f"{source}: field 'sweep.{label}': must be a non-empty list of values "
                         f"(got {short_repr(values)})")
    return values


def check_trial_count(spec: StudySpec, factors: list[list[dict[str, Any]]], source: str) -> int:
    """The number of trials (an upper bound when folds are swept), refused above ``study.max_trials``.

    Computed from the axis lengths alone, so a 10^8-trial grid is refused at once.
    """
    grid = math.prod(len(f) for f in factors)
    folds = [spec.train.cross_validation or 1]
    folds += [v for f in factors for combo in f for k, v in combo.items()
              if k == "train.cross_validation" and isinstance(v, int) and not isinstance(v, bool)]
    n_folds = max(1, min(max(folds), 100))
    n = grid * spec.study.repeats * n_folds
    limit = spec.study.max_trials
    if n > limit:
        parts = f"{grid:,} configuration(s) x {spec.study.repeats} repeat(s)" + \
                (f" x {n_folds} folds" if n_folds > 1 else "")
        raise StudyError(f"{source}: the sweep has {n:,} trials ({parts}), more than study.max_trials = "
                         f"{limit:,}; use fewer values (or raise study.max_trials), or random search when it "
                         "lands: issue 13")
    return n


def _check_path(source, key):
    head = str(key).split(".")[0]
    if head not in SWEEPABLE or "." not in str(key):
        raise StudyError(f"{source}: field 'sweep.\"{key}\"': a swept field is a dotted path into "
                         f"{', '.join(SWEEPABLE)} (e.g. \"train.batch_size\")")


def deep_set(raw: dict, path: str, value: Any) -> None:
    """Set ``value`` at a dotted path; an integer part indexes a list (``model.layers.0.activation``).

    Raises:
        KeyError: a part of the path is not a table (or not a valid list index).
    """
    parts = path.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(path)
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise KeyError(path)
        if last:
            node[part] = value
            return
        if node.get(part) is None:
            node[part] = {}
        node = node[part]


def _context(overrides: dict[str, Any]) -> str:
    """`` [sweep: a = 1, b = 'x']``: which combination a trial error comes from (built only on error)."""
    if not overrides:
        return ""
    return f" [sweep: {', '.join(f'{k} = {short_repr(v, 60)}' for k, v in overrides.items())}]"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _digest(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _hash(obj: Any, n: int = 16) -> str:
    return _digest(_dumps(obj), n)


def expand_one(spec: StudySpec, raw: dict, overrides: dict[str, Any], source: str = "<study>") -> list[TrialRecord]:
    """One configuration's trials: the study's sections with ``overrides`` written in, x repeats x folds.

    A search strategy creates trials one configuration at a time with it; :func:`expand`
    maps it over a grid.

    Raises:
        StudyError: the configuration is invalid (the message names the sweep values).
    """
    cfg_raw = {k: copy.deepcopy(raw.get(k, {})) for k in SWEEPABLE}
    for path, value in overrides.items():
        try:
            deep_set(cfg_raw, path, copy.deepcopy(value))
        except KeyError:
            raise StudyError(f"{source}: field 'sweep.\"{path}\"': {path.rsplit('.', 1)[0]!r} is not a table "
                             "(or the list index is out of range)") from None
    try:
        trial_spec = TrialSpec.model_validate(cfg_raw)
    except ValidationError as e:
        raise StudyError(format_validation_error(e, source=source, model=TrialSpec,
                                                 context=_context(overrides))) from None
    except UserError as e:
        raise StudyError(f"{source}: {e}{_context(overrides)}") from None
    config = trial_spec.config()
    # The config's JSON once (a 22,500-trial grid hashed it per trial): ids equal _hash's of the whole dict.
    config_json = _dumps(config)
    config_id = _digest(f'{{"config": {config_json}, "overrides": {_dumps(overrides)}}}', 12)
    folds = trial_spec.train.cross_validation
    trials = []
    for r in range(spec.study.repeats):
        seed = spec.study.seed + r
        for fold in (range(folds) if folds else [None]):
            tid = _digest(f'{{"config": {config_json}, "data_seed": {_dumps(spec.study.seed)}, '
                          f'"fold": {_dumps(fold)}, "seed": {_dumps(seed)}}}')
            trials.append(TrialRecord(tid, config, dict(overrides), config_id, seed, r, fold, group=""))
    return trials


def expand(spec: StudySpec, raw: dict, combos: list[dict], source: str) -> list[TrialRecord]:
    """Every configuration's trials (:func:`expand_one`), in grid order."""
    trials = [t for overrides in combos for t in expand_one(spec, raw, overrides, source)]
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise StudyError(f"{source}: the sweep produces identical trials (a value repeated in an axis?)")
    return trials
