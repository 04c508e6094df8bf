"""``docs/reproductions/seedNNN.md`` from a finished reproduction tree.

    python -m sweeplab.reproduce.publish RUN_TREE [--to docs/reproductions]
    sweeplab reproduce 002 --out runs/reproduce --publish docs/reproductions   # run (or resume), then publish

``RUN_TREE`` is ``OUT/seedNNN`` (full or ``--quick``) or ``OUT/seedNNN-<size>`` (``--size``).
Nothing is trained: every number is read back from the studies' stores, with the same
comparison code as ``reproduction.md``. The page has the exact command, the machine, the wall
time of each study (from its store), "which conclusions hold" (verdict counts; the report's
rankings and differences against our seed noise), one figure per study (PNG copied into
``images/``), the side-by-side tables, and seed 004's tell-the-time / seed 001's own-digit
sections where the tree has them. Only ``--to`` is written.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sweeplab import values as V
from sweeplab.reproduce.published import load_published
from sweeplab.reproduce.verdict import AGREES, DIFFERS, NOT_COMPARABLE, Comparison

_TREE = re.compile(r"^seed([0-9]{3})(?:-([a-z0-9][a-z0-9-]*))?$")


def machine() -> dict[str, Any]:
    """The machine this process runs on: CPU model, cores, memory, OS, Python, JAX and its device."""
    import os
    import platform

    info: dict[str, Any] = {"os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
                            "cpu_cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    try:
        info["load_average"] = [round(x, 1) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import jax

        info["jax"] = jax.__version__
        info["device"] = str(jax.devices()[0].platform)
    except Exception:  # noqa: BLE001 - a page without the JAX line is still a page
        pass
    return info


def _profile_of(base: Path):
    """The --quick / test profile a tree ran with (from its reproduction.md's first line), or None."""
    from sweeplab.reproduce.quick import QUICK, TINY

    md = base / "reproduction.md"
    first = md.read_text(encoding="utf-8").split("\n", 1)[0] if md.exists() else ""
    m = re.match(r"> \*\*(\w+) — not a reproduction", first)
    return {"QUICK": QUICK, "TINY": TINY}.get(m.group(1)) if m else None


@dataclass
class Tree:
    """A finished reproduction tree read back: what ran, at which size, and the comparisons."""

    base: Path
    pub: Any
    size: Any  # sizes.Size or None
    profile: Any  # quick.Profile or None
    runs: list
    loaded: dict
    comps: list

    @property
    def stem(self) -> str:
        """The page's name: seedNNN, seedNNN-<size>, seedNNN-quick (never a full page's name)."""
        return (f"seed{self.pub.seed}" + (f"-{self.size.name}" if self.size else "")
                + (f"-{self.profile.name.lower()}" if self.profile else ""))


def read_tree(base: Path) -> Tree:
    """Read ``OUT/seedNNN[-size]`` back: its studies' stores and the published rows judged against them.

    Raises:
        PublishedError: ``base`` is not a reproduction tree (one line).
    """
    import sweeplab
    from sweeplab.reproduce.command import load_sized
    from sweeplab.reproduce.quick import seed_studies
    from sweeplab.reproduce.published import PublishedError
    from sweeplab.reproduce.sizes import judge, load_size
    from sweeplab.reproduce.verdict import compare

    base = Path(base)
    m = _TREE.match(base.name)
    if not m or not base.is_dir():
        raise PublishedError(f"{base}: not a reproduction tree; accepted: OUT/seedNNN or OUT/seedNNN-<size> "
                             "written by sweeplab reproduce")
    pub = load_published(m.group(1))
    size = load_size(pub.seed, m.group(2), seed_studies(pub)) if m.group(2) else None
    profile = _profile_of(base)
    runs, loaded = [], {}
    for name in seed_studies(pub):
        sr = load_sized(name, pub, profile, size)
        sr.run_dir = base / name
        if not sr.skipped_reason and not (sr.run_dir / "results.sqlite").exists():
            sr.skipped_reason = "not in this run tree"
        if not sr.skipped_reason:
            try:
                loaded[name] = sweeplab.load(sr.run_dir)
            except Exception as e:  # noqa: BLE001 - a study without a readable store is reported, not fatal
                sr.skipped_reason = f"no readable store ({str(e).splitlines()[0][:120]})"
        runs.append(sr)
    comps = compare(pub.rows, loaded)
    if size is not None:
        comps = judge(comps, size, {r.name: (r.full, r.study) for r in runs if r.reduction is not None}, loaded)
    return Tree(base, pub, size, profile, runs, loaded, comps)


def publish(base: Path, to: Path) -> Path:
    """Write ``to/seedNNN[-size].md`` (and ``to/images/*.png``) from the finished tree ``base``.

    Raises:
        PublishedError: ``base`` is not a reproduction tree (one line).
    """
    from sweeplab.reproduce.document import _clocks_section

    t = read_tree(base)
    images = to / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = _head(t) + _wall_times(t) + conclusions(t.comps, t.runs) + _figures(t, images) + _side_by_side(t)
    if any(r.name.startswith("seed004-clocks") for r in t.runs):
        lines += ["#" + x if x.startswith("## ") else x for x in _clocks_section(t.runs, t.loaded)]
    lines += _own_digit(t.base, images, t.stem)
    out = to / f"{t.stem}.md"
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return out


def _head(t: Tree) -> list[str]:
    from sweeplab.reproduce.document import counts

    pub, size, profile = t.pub, t.size, t.profile
    flag = " --quick" if profile is not None else (f" --size {size.name}" if size else "")
    info_path = t.base / "machine.json"
    if info_path.exists():
        info, where = json.loads(info_path.read_text(encoding="utf-8")), "recorded by the run"
    else:
        info, where = machine(), "where this page was generated (the run recorded none)"
    n = counts(t.comps)
    lines = []
    if profile is not None:
        lines += [f"> **{profile.name} — not a reproduction.** A smoke test of the path; the numbers below say "
                  f"nothing about the report. {profile.label()}.", ""]
    if size is not None:
        lines += [f"> **Size {size.name} — a reduced reproduction, not the full one.** {size.summary}. Each row "
                  f"says what was reduced. The full run: `sweeplab reproduce {pub.seed}`.", ""]
    return lines + [
        f"# Seed {pub.seed}: {pub.title}", "",
        f"Report: {pub.authors}, {pub.date} (`{pub.source}`). Framework: {pub.framework}.", "",
        "Command (resumable; generated from its run tree, `python -m sweeplab.reproduce.publish "
        f"{t.base}`):", "", "```bash", "export SWEEPLAB_DATA=/path/to/data",
        f"sweeplab reproduce {pub.seed}{flag} --out {t.base.parent}", "```", "",
        f"Machine ({where}): " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".", "",
        f"**{len(t.comps)} published rows: {n[AGREES]} agree, {n[DIFFERS]} differ, {n[NOT_COMPARABLE]} not "
        "comparable.** Verdict: *agrees* when the published value lies inside our mean ± 2 std over seeds "
        "(widened by its rounding).", ""]


def _wall_times(t: Tree) -> list[str]:
    from sweeplab.reproduce.document import _dur, _train_seconds

    lines = ["## Wall time per study", "",
             "| study | trials | training time (store: compile + epochs) | first trial created → last finished "
             "| status |", "|---|---|---|---|---|"]
    total = 0.0
    for r in t.runs:
        run = t.loaded.get(r.name)
        if run is None:
            lines.append(f"| {r.name} | — | — | — | not run: {r.skipped_reason} |")
            continue
        secs = _train_seconds(r, run)
        total += secs
        st = run.trials["status"].value_counts().to_dict()
        lines.append(f"| {r.name} | {len(run.trials)} | {_dur(secs)} | {_span(r.run_dir / 'results.sqlite')} | "
                     + ", ".join(f"{v} {k}" for k, v in st.items()) + " |")
    return lines + [f"| **total** | | **{_dur(total)}** | | |", ""]


def _figures(t: Tree, images: Path) -> list[str]:
    lines = ["## Figures", ""]
    for r in t.runs:
        run = t.loaded.get(r.name)
        if run is None:
            continue
        png = _figure(run, r, [c for c in t.comps if c.row.study == r.name],
                      images / f"{r.name}{t.stem[len('seedNNN'):]}.png")
        if png is not None:
            lines += [f"### {r.name}", "", f"![{r.name}](images/{png.name})", ""]
    return lines


def _side_by_side(t: Tree) -> list[str]:
    from sweeplab.reproduce.document import _table

    lines = ["## Side by side", ""]
    for r in t.runs:
        mine = [c for c in t.comps if c.row.study == r.name]
        exp = t.pub.experiments.get(r.name)
        lines += [f"### {r.name}", ""]
        if exp is not None:
            lines += [f"- Report states: {exp.stated}", f"- Report leaves out: {exp.unstated}"]
        if r.study is not None and r.name in t.loaded:
            tr = r.study.spec.train
            lines.append(f"- Ours: {len(t.loaded[r.name].trials)} trials, {tr.epochs} epochs, `train.defaults = "
                         f"\"{tr.defaults}\"`, `train.shuffle = {json.dumps(tr.shuffle)}`")
        if r.skipped_reason:
            lines.append(f"- **Not run:** {r.skipped_reason}")
        if t.size is not None and r.reduction is not None and not r.reduction.skip:  # a skip: said once, above
            lines.append(f"- **Reduced at size {t.size.name}:** {r.reduction.why}")
        lines += ["", *(_table(mine) if mine else []), ""]
    other = [c for c in t.comps if c.row.study not in {r.name for r in t.runs}]
    if other:
        lines += ["### Not tied to a study", "", *_table(other), ""]
    return lines


def _span(store: Path) -> str:
    """First trial created to last trial finished, read-only from the store's trials table."""
    import sqlite3

    import pandas as pd

    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
            a, b = conn.execute("SELECT min(created), max(finished) FROM trials").fetchone()
        a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True)
    except (sqlite3.Error, ValueError, TypeError):
        return "—"
    if pd.isna(a) or pd.isna(b):
        return "—"
    from sweeplab.reproduce.document import _dur

    return f"{_dur((b - a).total_seconds())} (includes pauses between invocations)"


# ---------------------------------------------------------------------------- conclusions

def _noise(c: Comparison) -> float | None:
    """The std of one of our runs (the spread a single published run carries), None without a spread."""
    return c.verdict.std


def conclusions(comps: Sequence[Comparison], runs: Sequence[Any] = ()) -> list[str]:
    """"Which conclusions hold": counts per study, then the report's rankings and differences vs our seed noise.

    A *ranking* is a group of rows with one reference, study and metric and different settings
    (e.g. Table III's sigmoid / tanh / relu accuracies). The report's order holds when ours is
    the same; a gap between neighbours is *within seed noise* when it is smaller than 2 std of
    the difference of two single runs (``2 * sqrt(s1² + s2²)``, our seeds): one run each, as
    the report had, cannot order them. A difference row (``baseline``) is within seed noise when
    our interval of the difference includes 0.
    """
    lines = ["## Which conclusions hold", "",
             "| study | agree | differ | not comparable |", "|---|---|---|---|"]
    by_study: dict[str, list[Comparison]] = defaultdict(list)
    for c in comps:
        by_study[c.row.study or "(no study)"].append(c)
    for s, cs in by_study.items():
        k = {v: sum(1 for c in cs if c.verdict.kind == v) for v in (AGREES, DIFFERS, NOT_COMPARABLE)}
        lines.append(f"| {s} | {k[AGREES]} | {k[DIFFERS]} | {k[NOT_COMPARABLE]} |")
    lines.append("")
    groups: dict[tuple, list[Comparison]] = defaultdict(list)
    for c in comps:
        r = c.row
        if (r.comparable and c.verdict.mean is not None and r.baseline is None and r.relation in ("=", "~")
                and r.value is not None and r.setting):
            groups[(r.ref, r.study, r.metric, r.at)].append(c)
    rank_lines = []
    for (ref, study, metric, _), cs in groups.items():
        if len({c.setting for c in cs}) < 2:
            continue
        from sweeplab.analysis.stats import lower_is_better

        low = lower_is_better(metric)
        pub_order = sorted(cs, key=lambda c: c.row.value, reverse=not low)
        our_order = sorted(cs, key=lambda c: c.verdict.mean, reverse=not low)
        same = [c.row.id for c in pub_order] == [c.row.id for c in our_order]
        varying = sorted({k for c in cs for k in c.row.setting
                          if len({V.label(V.canonical(x.row.setting.get(k))) for x in cs}) > 1})
        _short = lambda c: ", ".join(V.label(V.canonical(c.row.setting.get(k))) for k in varying)  # noqa: E731
        noisy = []
        for a, b in zip(pub_order, pub_order[1:]):
            sa, sb = _noise(a), _noise(b)
            if sa is None or sb is None:
                continue
            band = 2 * math.sqrt(sa ** 2 + sb ** 2)
            if abs(a.row.value - b.row.value) < band:
                noisy.append(f"{_short(a)} vs {_short(b)}")
        best = ("" if same else f"; the report's best ({_short(pub_order[0])}) is "
                + ("ours too" if pub_order[0] is our_order[0] else f"not ours ({_short(our_order[0])})"))
        holds = ("holds" if same else "does not hold") + best + (
            f"; within seed noise: {', '.join(noisy)}" if noisy else ("; every gap is larger than seed noise"
                                                                        if same else ""))
        rank_lines.append(f"| {ref} | {study} | {metric} ({', '.join(a.rsplit('.', 1)[-1] for a in varying)}) | "
                          f"{' > '.join(_short(c) for c in pub_order)} | "
                          f"{' > '.join(_short(c) for c in our_order)} | {holds} |")
    if rank_lines:
        lines += ["Rankings (the report's order of settings by a metric, best first, against ours by mean over "
                  "seeds; a published gap smaller than 2 std of the difference of two single runs is *within "
                  "seed noise*: one run each cannot order those settings):", "",
                  "| ref | study | metric | report's order | our order | conclusion |", "|---|---|---|---|---|---|",
                  *rank_lines, ""]
    diff_lines = []
    for c in comps:
        if c.row.comparable and c.row.baseline is not None and c.verdict.mean is not None and c.verdict.std:
            lo, hi = c.verdict.mean - 2 * c.verdict.std, c.verdict.mean + 2 * c.verdict.std
            noise = "within seed noise (our interval includes 0)" if lo <= 0 <= hi else "larger than seed noise"
            diff_lines.append(f"| {c.row.id} | {c.setting} | {c.published} | {c.ours} | {noise} |")
    if diff_lines:
        lines += ["Differences the report states (a setting minus a baseline):", "",
                  "| id | difference | published | ours | our difference is |", "|---|---|---|---|---|",
                  *diff_lines, ""]
    differs = [c for c in comps if c.verdict.kind == DIFFERS]
    if differs:
        lines += ["Rows that differ (the published number is outside our mean ± 2 std; the notes and the "
                  "study's 'leaves out' give the likely reasons): " + ", ".join(f"`{c.row.id}`" for c in differs)
                  + ".", ""]
    return lines


# ---------------------------------------------------------------------------- figures

def _figure(run, r, comps: Sequence[Comparison], png: Path) -> Path | None:
    """Mean learning curves of the study's main metric by its first swept axis (the figure most reports show)."""
    from sweeplab.report.figures_study import mean_learning_curves

    metric = next((c.row.metric for c in comps if c.row.comparable and c.row.metric
                   and c.row.metric.split("_", 1)[0] in ("train", "val", "test")), None)
    name = metric.split("_", 1)[1] if metric else None
    epochs = run.epochs
    if name is None or name not in set(epochs["metric"]):
        name = "accuracy" if "accuracy" in set(epochs["metric"]) else "loss"
    axes = [a for a in getattr(r.study, "axes", ()) if a in run.trials.columns
            and 1 < run.trials[a].astype(str).nunique() <= 12]
    try:
        trials = run.trials.set_index("trial_id") if "trial_id" in run.trials.columns else run.trials
        fig = mean_learning_curves(epochs, trials, axes[0] if axes else None, metrics=[name],
                                   title=f"{r.name}: mean ± std over seeds")
        fig.savefig(png, dpi=90, bbox_inches="tight")
    except Exception:  # noqa: BLE001 - a study whose curves cannot be drawn keeps its tables
        return None
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
    return png


def _own_digit(base: Path, images: Path, stem: str) -> list[str]:
    """Seed 001's exercise 3 from the tree's reproduction.md, its pictures copied beside the page."""
    md = base / "reproduction.md"
    if not (base / "own-digit.jpg").exists() or not md.exists():
        return []
    text = md.read_text(encoding="utf-8")
    m = re.search(r"^## Exercise 3.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if not m:
        return []
    section = m.group(0)
    for name in ("own-digit.jpg", "own-digit-seen.png"):
        if (base / name).exists():
            shutil.copyfile(base / name, images / f"{stem}-{name}")
            section = section.replace(f"]({name})", f"](images/{stem}-{name})")
    return [section.rstrip(), ""]


def main(argv: Sequence[str] | None = None) -> int:
    from sweeplab.reproduce.published import PublishedError

    p = argparse.ArgumentParser(prog="python -m sweeplab.reproduce.publish",
                                description="docs/reproductions/seedNNN.md from a finished reproduction tree")
    p.add_argument("tree", type=Path, help="OUT/seedNNN or OUT/seedNNN-<size>")
    p.add_argument("--to", type=Path, default=Path("docs/reproductions"), help="folder of the page (default "
                                                                               "docs/reproductions)")
    a = p.parse_args(argv)
    try:
        out = publish(a.tree, a.to)
    except PublishedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {a.to}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
