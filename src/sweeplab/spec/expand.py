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
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sweeplab.data.spec import DataSpec
from sweeplab.spec.errors import StudyError, format_validation_error
from sweeplab.spec.schema import ModelSpec, StudySpec, TrainSpec
from sweeplab.store.records import TrialRecord

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "studies"
SWEEPABLE = ("data", "model", "train")


class TrialSpec(BaseModel):
    """The sections one trial is built from; ``TrialSpec.model_validate(record.config)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: DataSpec
    model: ModelSpec
    train: TrainSpec


@dataclass(frozen=True)
class Study:
    """A validated study: the spec, its source text and its trials."""

    spec: StudySpec
    source: str
    text: str
    raw: dict[str, Any]
    trials: tuple[TrialRecord, ...]
    axes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.study.name


def builtin_studies() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.rglob("*.toml"))}


def resolve_path(study: str | Path) -> Path:
    """A study file path, or the name of a built-in study."""
    p = Path(study)
    if p.is_file():
        return p
    builtins = builtin_studies()
    if str(study) in builtins:
        return builtins[str(study)]
    raise StudyError(
        f"no study file {str(study)!r} and no built-in study of that name; built-in studies: "
        f"{', '.join(builtins) or '(none)'}"
    )


def parse_text(text: str, source: str) -> dict[str, Any]:
    try:
        if source.endswith((".yaml", ".yml")):
            raw = yaml.safe_load(text)
        else:
            raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{source}: not valid TOML: {str(e).splitlines()[0]}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise StudyError(f"{source}: not valid YAML: {what}{where}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{source}: a study file is a table with sections study, data, model, train, sweep")
    return raw


def load_study(study: str | Path) -> Study:
    path = resolve_path(study)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise StudyError(f"{path}: not a text file (a study file is UTF-8 TOML or YAML)") from None
    return study_from_text(text, str(path))


def study_from_text(text: str, source: str = "<study>") -> Study:
    raw = parse_text(text, source)
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as e:
        raise StudyError(format_validation_error(e, source=source, model=StudySpec)) from None
    except ValueError as e:  # registry errors raised outside pydantic's wrapping
        raise StudyError(f"{source}: {e}") from None
    combos, axes = sweep_combinations(raw.get("sweep", {}), source)
    trials = expand(spec, raw, combos, source)
    return Study(spec, source, text, raw, tuple(trials), tuple(axes))


def sweep_combinations(sweep: dict[str, Any], source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Grid over independent axes; each ``[[sweep.zip]]`` table is one axis of tuples."""
    factors: list[list[dict[str, Any]]] = []
    axes: list[str] = []
    for key, values in sweep.items():
        if key == "zip":
            tables = values if isinstance(values, list) else [values]
            for i, table in enumerate(tables):
                if not isinstance(table, dict) or not table:
                    raise StudyError(f"{source}: field 'sweep.zip[{i}]': a table of axis = [values], got {table!r}")
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
    combos = [dict(kv for part in prod for kv in part.items()) for prod in itertools.product(*factors)]
    return combos or [{}], axes


def _values(source, label, values) -> list:
    if not isinstance(values, list) or not values:
        raise StudyError(f"{source}: field 'sweep.{label}': must be a non-empty list of values (got {values!r})")
    return values


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


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def expand(spec: StudySpec, raw: dict, combos: list[dict], source: str) -> list[TrialRecord]:
    base = {k: copy.deepcopy(raw.get(k, {})) for k in SWEEPABLE}
    trials: list[TrialRecord] = []
    for overrides in combos:
        cfg_raw = copy.deepcopy(base)
        for path, value in overrides.items():
            try:
                deep_set(cfg_raw, path, copy.deepcopy(value))
            except KeyError:
                raise StudyError(f"{source}: field 'sweep.\"{path}\"': {path.rsplit('.', 1)[0]!r} is not a table (or the list index is out of range)")
        ctx = f" [sweep: {', '.join(f'{k} = {v!r}' for k, v in overrides.items())}]" if overrides else ""
        try:
            trial_spec = TrialSpec.model_validate(cfg_raw)
        except ValidationError as e:
            raise StudyError(format_validation_error(e, source=source, model=TrialSpec, context=ctx)) from None
        except ValueError as e:
            raise StudyError(f"{source}: {e}{ctx}") from None
        config = {
            "data": trial_spec.data.model_dump(mode="json"),
            "model": trial_spec.model.model_dump(mode="json", exclude_none=True),
            "train": trial_spec.train.model_dump(mode="json"),
        }
        config_id = _hash({"overrides": overrides, "config": config}, 12)
        folds = trial_spec.train.cross_validation
        for r in range(spec.study.repeats):
            seed = spec.study.seed + r
            for fold in (range(folds) if folds else [None]):
                tid = _hash({"config": config, "seed": seed, "fold": fold, "data_seed": spec.study.seed})
                trials.append(TrialRecord(tid, config, dict(overrides), config_id, seed, r, fold, group=""))
    ids = [t.trial_id for t in trials]
    if len(set(ids)) != len(ids):
        raise StudyError(f"{source}: the sweep produces identical trials (a value repeated in an axis?)")
    return trials
