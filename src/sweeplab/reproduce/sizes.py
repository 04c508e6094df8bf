"""Named reduced sizes of a seed's reproduction (``sweeplab reproduce 004 --size faithful-1h``), as data.

Some full reproductions do not fit on a 2-core CPU machine (seed 003 ~10 h, seed 004 ~27 h).
A *size* is a reviewed, named reduction per study, kept beside the published numbers in
``reproduce/sizes/seedNNN.toml`` (not in code), so every machine runs the same trials (a
rerun resumes) and every reduction is stated in the reproduction. Why a named size and not
``--budget 1h``: the time model is good to a factor of 2-3, so fitting reductions to a budget
automatically would pick different trials on different machines and hide what was cut; the
file says what is cut and why, ``--list --size`` shows its estimate beside the full one.

File layout::

    [size."faithful-1h"]
    summary = "..."                        # one line: what this size is
    [size."faithful-1h".study."seed003-cnn"]
    why = "..."                            # required: the reasoning
    repeats = 3                            # seeds (keep >= 3 where possible)
    epochs = 20                            # fewer epochs (the epoch cap with early stopping)
    subsample = 12000                      # training images of a large dataset
    params = { size = 75, n_images = 6000 }  # dataset parameters (clocks: image side, images)
    sweep = { "train.optimizer" = ["sgd"] }  # replaces [sweep]; each configuration must be one of the full study's
    skip = "..."                           # not run at all at this size (the reason)
    plateau = [{ setting = { "train.optimizer" = "sgd" }, from = 20,
                 quote = "After 20th epoch ... the losses are almost constant." }]

A study not listed runs at full size. How a published row is judged at a reduced size
(:func:`judge`): a row of a study run with fewer epochs is compared only when the report
gives its value at an epoch that was run, when the report's own words (``plateau``, quoted)
say the curve is flat from an epoch that was run, or when every trial of its configuration
was stopped by early stopping by the reduced cap (then it ran as at full size); else
it is *not comparable (reduced: ...)*. A row whose configuration the reduced sweep leaves out
is *not comparable (reduced: ...)*. Fewer seeds, a training subset or smaller images keep the
verdict but the row says so.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from sweeplab import values as V
from sweeplab.reproduce.published import PublishedError, _fail, _keys  # the published files' one-line errors
from sweeplab.reproduce.verdict import NOT_COMPARABLE, Comparison, Verdict

_SIZE_KEYS = {"summary", "study"}
_STUDY_KEYS = {"why", "repeats", "epochs", "subsample", "params", "sweep", "skip", "plateau"}
_PLATEAU_KEYS = {"setting", "from", "quote"}
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Plateau:
    """The report says a configuration's curves are flat from epoch ``start`` (``quote``)."""

    setting: Mapping[str, Any]
    start: int
    quote: str


@dataclass(frozen=True)
class Reduction:
    """How one study is cut at a size (None: as at full size)."""

    study: str
    why: str
    repeats: int | None = None
    epochs: int | None = None
    subsample: int | None = None
    params: Mapping[str, Any] | None = None
    sweep: Mapping[str, Any] | None = None
    skip: str = ""
    plateaus: tuple[Plateau, ...] = ()


@dataclass(frozen=True)
class Size:
    """A named reduced size of one seed's reproduction."""

    name: str
    seed: str
    summary: str
    studies: Mapping[str, Reduction] = field(default_factory=dict)

    def reduction(self, study: str) -> Reduction | None:
        return self.studies.get(study)


# ---------------------------------------------------------------- loading

def sizes_dir() -> Path:
    return Path(str(resources.files("sweeplab.reproduce").joinpath("sizes")))


def available(seed: str) -> list[str]:
    """The size names of a seed ([] when it has no sizes file)."""
    path = sizes_dir() / f"seed{seed}.toml"
    if not path.exists():
        return []
    return list(_parse_file(path))


def all_sizes() -> list[str]:
    names: list[str] = []
    for p in sorted(sizes_dir().glob("seed*.toml")):
        names += [n for n in _parse_file(p) if n not in names]
    return names


def load_size(seed: str, name: str, studies: Sequence[str] | None = None) -> Size:
    """The size ``name`` of seed ``seed``.

    Raises:
        PublishedError: one line (no such size for the seed, or a mistake in the file).
    """
    path = sizes_dir() / f"seed{seed}.toml"
    sizes = _parse_file(path, seed) if path.exists() else {}
    if name not in sizes:
        accepted = ", ".join(sizes) or "none (this seed runs at full size in about an hour or less)"
        raise PublishedError(f"--size: {name!r}: not a size of seed {seed}; accepted: {accepted}")
    size = sizes[name]
    if studies is not None:
        for s in size.studies:
            if s not in studies:
                raise PublishedError(f"{path.name}: size {name!r}: study {s!r}: accepted: a study of seed {seed} "
                                     f"({', '.join(studies)})")
    return size


def _parse_file(path: Path, seed: str | None = None) -> dict[str, Size]:
    src = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PublishedError(f"{src}: not valid TOML: {e}") from None
    _keys(src, "top level", raw, {"size"})
    seed = seed or path.stem.removeprefix("seed")
    out = {}
    for name, table in _table(src, "size", raw.get("size")).items():
        where = f"size {name!r}"
        if not NAME.match(name):
            _fail(src, where, name, "a name of lowercase letters, digits and '-'")
        table = _table(src, where, table)
        _keys(src, where, table, _SIZE_KEYS)
        summary = table.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            _fail(src, f"{where}: field 'summary'", summary, "a non-empty string")
        studies = {s: _reduction(src, f"{where}: study {s!r}", s, t)
                   for s, t in _table(src, f"{where}: study", table.get("study", {})).items()}
        out[name] = Size(name, seed, summary, studies)
    return out


def _reduction(src: str, where: str, study: str, t: Any) -> Reduction:
    t = _table(src, where, t)
    _keys(src, where, t, _STUDY_KEYS)
    why = t.get("why")
    if not isinstance(why, str) or not why.strip():
        _fail(src, f"{where}: field 'why'", why if why is not None else "(missing)", "a sentence saying why")
    ints = {}
    for k in ("repeats", "epochs", "subsample"):
        v = t.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            _fail(src, f"{where}: field {k!r}", v, "an integer >= 1")
        ints[k] = v
    params = t.get("params")
    if params is not None and not isinstance(params, dict):
        _fail(src, f"{where}: field 'params'", params, "a table of dataset parameters")
    sweep = t.get("sweep")
    if sweep is not None and not isinstance(sweep, dict):
        _fail(src, f"{where}: field 'sweep'", sweep, "a table like a study's [sweep]")
    skip = t.get("skip", "")
    if not isinstance(skip, str):
        _fail(src, f"{where}: field 'skip'", skip, "a sentence saying why the study is not run")
    plateaus = []
    for i, p in enumerate(t.get("plateau", []) or []):
        pw = f"{where}: plateau {i + 1}"
        p = _table(src, pw, p)
        _keys(src, pw, p, _PLATEAU_KEYS)
        start, quote = p.get("from"), p.get("quote")
        if not isinstance(start, int) or isinstance(start, bool) or start < 1:
            _fail(src, f"{pw}: field 'from'", start, "the epoch (>= 1) the report says the curve is flat from")
        if not isinstance(quote, str) or not quote.strip():
            _fail(src, f"{pw}: field 'quote'", quote, "the report's sentence that says so")
        plateaus.append(Plateau(dict(_table(src, f"{pw}: field 'setting'", p.get("setting", {}))), start, quote))
    return Reduction(study, why, ints["repeats"], ints["epochs"], ints["subsample"], params, sweep, skip,
                     tuple(plateaus))


def _table(src: str, where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        _fail(src, where, "(missing)" if value is None else value, "a table")
    return value




# ---------------------------------------------------------------- applying a reduction

def reduce_study(full, red: Reduction):
    """The built-in study ``full`` (a loaded Study) cut by ``red``; a reduced sweep must stay inside the full one.

    Raises:
        PublishedError: the reduced sweep has a configuration the full study lacks.
    """
    from sweeplab.spec.expand import study_from_text

    raw = copy.deepcopy(dict(full.raw))
    study, data, train = raw.setdefault("study", {}), raw.setdefault("data", {}), raw.setdefault("train", {})
    if red.repeats is not None:
        study["repeats"] = red.repeats
    if red.epochs is not None:
        train["epochs"] = min(int(train.get("epochs", 1)), red.epochs)
    if red.subsample is not None:
        data["subsample"] = min(int(data.get("subsample") or red.subsample), red.subsample)
    if red.params:
        data["params"] = {**(data.get("params") or {}), **red.params}
    if red.sweep is not None:
        raw["sweep"] = copy.deepcopy(dict(red.sweep))
    reduced = study_from_text(json.dumps(raw), f"{full.name}.reduced.yaml")
    if red.sweep is not None:
        full_configs = [_swept(t.config, full.axes) for t in full.trials]
        for t in reduced.trials:
            mine = _swept(t.config, full.axes)
            if not any(all(V.same(mine[a], f[a]) for a in full.axes) for f in full_configs):
                raise PublishedError(f"sizes: study {full.name!r}: field 'sweep': {mine}: accepted: configurations "
                                     f"of the full study (a subset of its sweep)")
    return reduced


def _swept(config: Mapping[str, Any], axes: Sequence[str]) -> dict[str, Any]:
    out = {}
    for a in axes:
        node: Any = config
        for part in a.split("."):
            node = node[int(part)] if isinstance(node, list) else (node or {}).get(part)
        out[a] = node
    return out


def describe(red: Reduction, full, reduced) -> list[str]:
    """What ``red`` cuts of the study, in words (one item per reduction)."""
    out = []
    fs, rs = full.spec, reduced.spec
    if rs.study.repeats != fs.study.repeats:
        out.append(f"{rs.study.repeats} of {fs.study.repeats} seeds")
    if rs.train.epochs != fs.train.epochs:
        cap = " (the early-stopping cap)" if fs.train.early_stopping is not None else ""
        out.append(f"{rs.train.epochs} of {fs.train.epochs} epochs{cap}")
    if red.sweep is not None:
        out.append(f"{len({t.config_id for t in reduced.trials})} of {len({t.config_id for t in full.trials})} "
                   "configurations")
    if rs.data.subsample != fs.data.subsample and rs.data.subsample:
        out.append(f"{rs.data.subsample:,} training images")
    if red.params:
        out.append("dataset " + ", ".join(f"{k} = {v}" for k, v in red.params.items()))
    return out


# ---------------------------------------------------------------- judging rows at a reduced size

def judge(comps: Sequence[Comparison], size: Size, studies: Mapping[str, tuple[Any, Any]],
          runs: Mapping[str, Any]) -> list[Comparison]:
    """Each comparison with what its study's reduction means for it (``Comparison.reduced``).

    Args:
        comps: the comparisons of the reduced run (:func:`sweeplab.reproduce.verdict.compare`).
        size: the size the run used.
        studies: study name -> (full Study, reduced Study) for the reduced studies.
        runs: study name -> the loaded run (for the early-stopping check).
    """
    out = []
    for c in comps:
        red = size.reduction(c.row.study) if c.row.study else None
        if red is None or not c.row.comparable:
            out.append(c)
            continue
        if red.skip:
            out.append(replace(c, ours="", values=(), verdict=Verdict(NOT_COMPARABLE, reason=f"study not run at {size.name}"),
                               reduced=red.skip))
            continue
        full, reduced = studies[c.row.study]
        cut = describe(red, full, reduced)
        label = "; ".join(cut)
        if c.verdict.kind == NOT_COMPARABLE and c.verdict.reason.startswith("no configuration"):
            out.append(replace(c, verdict=Verdict(NOT_COMPARABLE, reason=f"this setting is not run at {size.name}"),
                               reduced=label))
            continue
        e_full, e_red = full.spec.train.epochs, reduced.spec.train.epochs
        missing_epoch = c.verdict.kind == NOT_COMPARABLE and c.verdict.reason.startswith("the run has no epoch")
        if e_red < e_full and (c.verdict.kind != NOT_COMPARABLE or missing_epoch):
            why = _epochs_ok(c.row, e_red, red, reduced, runs.get(c.row.study))
            if why is None:
                if isinstance(c.row.at, int):
                    reason = f"the report reads it at epoch {c.row.at}; this size runs {e_red} epochs"
                else:
                    reason = f"the report gives no value at epoch {e_red} (ours: {c.ours})"
                out.append(replace(c, verdict=Verdict(NOT_COMPARABLE, reason=reason), ours="", values=(),
                                   reduced=label))
                continue
            label = f"{label}; compared: {why}"
        out.append(replace(c, reduced=label))
    return out


def _epochs_ok(row, epochs: int, red: Reduction, reduced, run) -> str | None:
    """Why a row of a study run with fewer epochs is still comparable, or None."""
    if isinstance(row.at, int):
        return f"the report reads it at epoch {row.at}" if row.at <= epochs else None
    for p in red.plateaus:
        if p.start <= epochs and all(k in row.setting and V.same(row.setting[k], v) for k, v in p.setting.items()):
            return f"the report says the curves are flat from epoch {p.start} (\"{p.quote}\")"
    if reduced.spec.train.early_stopping is not None and run is not None:
        t = run.trials
        mask = [True] * len(t)
        for axis, want in row.setting.items():
            if axis in t.columns:
                mask = [m and V.same(v, want) for m, v in zip(mask, t[axis])]
        chosen = t[mask]
        if row.baseline:
            bm = [True] * len(t)
            for axis, want in row.baseline.items():
                if axis in t.columns:
                    bm = [m and V.same(v, want) for m, v in zip(bm, t[axis])]
            chosen = t[[a or b for a, b in zip(mask, bm)]]
        # early stopping fired for every trial (at the latest at the reduced cap): a full-size run
        # would have stopped at the same epoch with the same weights
        if len(chosen) and all(_num(v) <= epochs for v in chosen["epochs_run"]) \
                and all(_num(v) > 0 for v in chosen["stopped_epoch"]):
            return f"early stopping ended every trial by the cap of {epochs} epochs, as it would at full size"
    return None


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f
