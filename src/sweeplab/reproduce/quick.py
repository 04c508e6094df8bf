"""The studies of one seed report, at full size or reduced (``--quick``).

A seed's studies are the built-in ``seedNNN-*`` studies its published file names
(``[experiments."<study>"]``). ``--quick`` runs each with a :class:`Profile`: fewer
epochs, fewer repeats (at least 2, so a spread exists), a training subset where the
dataset is large, and each swept axis cut down to the values some published row
picks (``setting`` / ``baseline``), so that every comparable row still finds its
configuration. Quick runs are smoke tests of the whole path, not reproductions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sweeplab import values as V
from sweeplab.reproduce.published import Published, Row
from sweeplab.spec.expand import Study, load_study, study_from_text
from sweeplab.spec.source import builtin_studies

#: datasets whose training split is cut to ``Profile.subsample`` images in quick mode
LARGE = ("mnist", "fashion-mnist", "svhn", "clocks")


@dataclass(frozen=True)
class Profile:
    """How a quick run shrinks a study: at most ``epochs`` (more when a published row is read
    at a later epoch), ``repeats`` seeds, ``subsample`` training images."""

    name: str
    epochs: int
    repeats: int
    subsample: int  # training images of the large datasets
    clocks_subsample: int  # clocks: 150x150 images, a CNN: far fewer
    max_samples: int  # synthetic data: at most this many generated points

    def label(self) -> str:
        return (f"{self.name}: at most {self.epochs} epoch(s) (or the epoch a published row is read at), {self.repeats} seeds, {self.subsample:,} training "
                f"images of MNIST/Fashion-MNIST ({self.clocks_subsample:,} of clocks), at most "
                f"{self.max_samples:,} synthetic points, sweeps cut to the published settings")


QUICK = Profile("QUICK", epochs=2, repeats=2, subsample=2000, clocks_subsample=400, max_samples=2000)
#: the test suite's profile: the same path, smaller still
TINY = Profile("TINY", epochs=1, repeats=2, subsample=300, clocks_subsample=64, max_samples=400)


def seed_studies(pub: Published) -> list[str]:
    """The built-in studies of a seed, in the published file's order."""
    known = builtin_studies()
    return [n for n in pub.experiments if n in known]


def load(name: str, pub: Published, profile: Profile | None) -> Study:
    """The built-in study ``name`` as it is (``profile`` None) or reduced by ``profile``."""
    study = load_study(name)
    if profile is None:
        return study
    raw = reduce_raw(study.raw, [r for r in pub.rows if r.study == name and r.comparable], profile)
    # YAML is a superset of JSON: the reduced table goes through the normal loader.
    return study_from_text(json.dumps(raw), f"{name}.{profile.name.lower()}.yaml")


def reduce_raw(raw: Mapping[str, Any], rows: Iterable[Row], p: Profile) -> dict[str, Any]:
    """``raw`` (a parsed study) shrunk by profile ``p``; the swept values the rows pick are kept."""
    raw = copy.deepcopy(dict(raw))
    study, data, train = raw.setdefault("study", {}), raw.setdefault("data", {}), raw.setdefault("train", {})
    study["repeats"] = p.repeats
    rows = list(rows)
    # enough epochs for the rows read at a given epoch (seed 001 reads epochs 1-3)
    needed = max([p.epochs] + [r.at for r in rows if isinstance(r.at, int)])
    train["epochs"] = min(int(train.get("epochs", 1)), needed)
    es = train.get("early_stopping")
    if isinstance(es, dict) and "start_from_epoch" in es:
        es["start_from_epoch"] = 0
    raw["sweep"] = _cut_sweep(raw.get("sweep", {}), rows)
    datasets = {data.get("dataset")} | set(_swept_values(raw["sweep"], "data.dataset"))
    if datasets & set(LARGE):
        n = p.clocks_subsample if "clocks" in datasets else p.subsample
        data["subsample"] = min(int(data.get("subsample") or n), n)
    params = data.get("params")
    if isinstance(params, dict) and isinstance(params.get("n_samples"), int):
        params["n_samples"] = min(params["n_samples"], p.max_samples)
    return raw


def _wanted(rows: list[Row]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in rows:
        for s in (r.setting, r.baseline or {}):
            for k, v in s.items():
                out.setdefault(k, []).append(v)
    return out


def _keep(values: list[Any], wanted: list[Any] | None) -> list[int]:
    """Indices of ``values`` a published row picks (the first value when none does)."""
    if wanted:
        idx = [i for i, v in enumerate(values) if any(V.same(v, w) for w in wanted)]
        if idx:
            return idx
    return [0]


def _cut_sweep(sweep: Mapping[str, Any], rows: list[Row]) -> dict[str, Any]:
    axes = [k for k in sweep if k != "zip"]
    settings = [dict(s) for r in rows for s in (r.setting, r.baseline) if s]
    if axes and "zip" not in sweep and settings and all(set(s) == set(axes) for s in settings):
        # every row names a whole configuration (a grid search's best): run just those
        distinct: list[dict[str, Any]] = []
        for s in settings:
            if not any(all(V.same(s[k], d[k]) for k in axes) for d in distinct):
                distinct.append(s)
        return {"zip": [{k: [d[k] for d in distinct] for k in axes}]}
    wanted = _wanted(rows)
    out: dict[str, Any] = {}
    for key, values in sweep.items():
        if key == "zip":
            tables = values if isinstance(values, list) else [values]
            cut = []
            for table in tables:
                n = len(next(iter(table.values())))
                keep = sorted({i for k, vs in table.items() for i in range(n)
                               if k in wanted and any(V.same(vs[i], w) for w in wanted[k])}) or [0]
                cut.append({k: [vs[i] for i in keep] for k, vs in table.items()})
            out["zip"] = cut
        elif isinstance(values, list):
            out[key] = [values[i] for i in _keep(values, wanted.get(key))]
        else:
            out[key] = values
    return out


def _swept_values(sweep: Mapping[str, Any], key: str) -> list[Any]:
    vals = list(sweep.get(key, []) if isinstance(sweep.get(key), list) else [])
    for table in sweep.get("zip", []) or []:
        vals += list(table.get(key, []))
    return vals
