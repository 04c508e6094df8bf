"""reproduction.md / reproduction.html of one seed: the published numbers beside ours.

Per study: the protocol the report states and leaves out, the run (trials, training
time), the settings that matter for fidelity (``train.defaults``, ``train.shuffle``) and
one table row per published number (published, ours mean ± std (n), verdict, notes).
Seed 004 adds the tell-the-time errors (:mod:`sweeplab.reproduce.clocks`), seed 001 the
own-digit exercise (a photo-like digit classified through ``sweeplab predict``'s path).
The HTML is the same Markdown, rendered by :func:`to_html` (headings, tables, lists,
images, paragraphs: the subset written here).
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sweeplab.reproduce.published import Published
from sweeplab.reproduce.verdict import AGREES, DIFFERS, NOT_COMPARABLE, Comparison, Verdict, compare

VERDICTS = (AGREES, DIFFERS, NOT_COMPARABLE)


def write_reproduction(pub: Published, runs: Sequence[Any], base: Path, profile, seconds: float,
                       size=None) -> Path:
    """Write ``base/reproduction.md`` and ``.html``; returns the Markdown path.

    ``size`` (a :class:`~sweeplab.reproduce.sizes.Size`): the run is a named reduced size; each
    row says what was reduced and is judged by :func:`sweeplab.reproduce.sizes.judge`.
    """
    import sweeplab

    loaded = {r.name: sweeplab.load(r.run_dir) for r in runs if not r.skipped_reason and r.run_dir.exists()}
    comps = compare(pub.rows, loaded)
    skipped = {r.name: r.skipped_reason for r in runs if r.skipped_reason}
    comps = [dataclasses.replace(c, verdict=Verdict(NOT_COMPARABLE, reason=skipped[c.row.study]))
             if c.row.study in skipped and c.verdict.kind == NOT_COMPARABLE and c.row.comparable else c
             for c in comps]
    if size is not None:
        from sweeplab.reproduce.sizes import judge

        studies = {r.name: (r.full, r.study) for r in runs if getattr(r, "reduction", None) is not None}
        comps = judge(comps, size, studies, loaded)
    lines = _header(pub, runs, profile, seconds, comps, size)
    for r in runs:
        lines += _study_section(pub, r, loaded.get(r.name), [c for c in comps if c.row.study == r.name], size)
    other = [c for c in comps if c.row.study not in {r.name for r in runs}]
    if other:
        lines += ["## Not tied to a study", "", *_table(other), ""]
    if any(r.name.startswith("seed004-clocks") for r in runs):
        lines += _clocks_section(runs, loaded)
    if pub.seed == "001":
        lines += _own_digit_section(runs, loaded, base)
    text = "\n".join(lines).rstrip() + "\n"
    md = base / "reproduction.md"
    base.mkdir(parents=True, exist_ok=True)
    from sweeplab.reproduce.publish import machine

    (base / "machine.json").write_text(json.dumps(machine(), indent=1) + "\n", encoding="utf-8")
    md.write_text(text, encoding="utf-8")
    title = f"Reproduction of seed {pub.seed}" + (f" ({profile.name})" if profile else "") + \
        (f" (size {size.name})" if size is not None else "")
    md.with_suffix(".html").write_text(to_html(text, title), encoding="utf-8")
    return md


def counts(comps: Sequence[Comparison]) -> dict[str, int]:
    c = Counter(x.verdict.kind for x in comps)
    return {k: c.get(k, 0) for k in VERDICTS}


# ---------------------------------------------------------------------------- sections

def _header(pub, runs, profile, seconds, comps, size=None) -> list[str]:
    lines = []
    if profile is not None:
        lines += [f"> **{profile.name} — not a reproduction.** {profile.label()}. The verdicts below only show "
                  "that the whole path works; the full runs are `sweeplab reproduce "
                  f"{pub.seed}` (docs/reproductions/README.md).", ""]
    if size is not None:
        lines += [f"> **Size {size.name} — a reduced reproduction, not the full one.** {size.summary}. Each "
                  "reduced study says what was cut and why; each row's verdict says what was reduced for it "
                  "(a row of a study run with fewer epochs is compared only where the report gives the value "
                  "at an epoch we ran or says the curve is flat by then, or early stopping ended every trial "
                  "by the cap; else *not comparable (reduced: …)*). The full run: "
                  f"`sweeplab reproduce {pub.seed}`.", ""]
    flag = " --quick" if profile is not None else (f" --size {size.name}" if size is not None else "")
    lines += [f"# Reproduction of seed {pub.seed}: {pub.title}", "",
              f"Report: {pub.authors}, {pub.date} (`{pub.source}`). Framework: {pub.framework}.", "",
              f"Command: `sweeplab reproduce {pub.seed}{flag}`; "
              f"wall time of this invocation: {_dur(seconds)} (finished trials of earlier invocations are "
              f"skipped); training time recorded in the stores: {_dur(sum(_train_seconds(r) for r in runs))}.", ""]
    n = counts(comps)
    lines += [f"**{len(comps)} published rows: {n[AGREES]} agree, {n[DIFFERS]} differ, "
              f"{n[NOT_COMPARABLE]} not comparable.**", "",
              "Verdict rule: *agrees* when the published value lies inside our mean ± 2 std over seeds "
              "(widened by the printed number's rounding); *differs* gives the gap in std; *not comparable* "
              "says why. Fewer than 3 seeds make a verdict weak.", ""]
    lines += ["Settings that matter for fidelity, per study: `train.defaults` (which Keras version's "
              "optimizer defaults, see docs/reproductions/keras-defaults.md; not followed: Keras 2's epsilon "
              "outside the sqrt in Adagrad/RMSprop, which only matters while the accumulator is near 0) and "
              "`train.shuffle` (`true` reshuffles every epoch as Keras 2.x / tf.keras 2.x did; `\"once\"` is a "
              "seeded Keras 3 + TensorFlow fit, whose every epoch repeats one permutation).", ""]
    return lines


def _study_section(pub, r, run, comps, size=None) -> list[str]:
    exp = pub.experiments.get(r.name)
    train = r.study.spec.train if r.study is not None else None
    lines = [f"## {r.name}", ""]
    if exp is not None:
        lines += [f"- Report states: {exp.stated}", f"- Report leaves out: {exp.unstated}"]
    red = getattr(r, "reduction", None)
    if size is not None and red is not None:
        from sweeplab.reproduce.sizes import describe

        cut = "not run" if red.skip else ", ".join(describe(red, r.full, r.study)) or "nothing"
        lines.append(f"- **Reduced at size {size.name}:** {cut}. Why: {red.skip or red.why} Full study: "
                     f"`sweeplab reproduce {pub.seed} --study {r.name}` ({len(r.full.trials)} trials, "
                     f"{r.full.spec.train.epochs} epochs).")
    elif size is not None:
        lines.append(f"- At size {size.name}: run as at full size.")
    if train is not None:
        shuffle = {True: "true (reshuffle every epoch)", False: "false"}.get(train.shuffle, '"once"')
        lines.append(f"- Ours: {r.n_trials} trials, {train.epochs} epochs, `train.defaults = \"{train.defaults}\"`, "
                     f"`train.shuffle = {shuffle}`")
    if r.skipped_reason:
        lines.append(f"- **Not run here:** {r.skipped_reason}")
    else:
        lines.append(f"- Run: `{r.run_dir}`; trained {r.trained}, skipped {r.skipped} finished; training time "
                     f"{_dur(_train_seconds(r, run))} (this invocation {_dur(r.seconds)})")
    lines.append("")
    if comps:
        lines += [*_table(comps), ""]
    return lines


def _table(comps: Sequence[Comparison]) -> list[str]:
    out = ["| id | ref | setting | metric | published | ours (mean ± std, n) | verdict | notes |",
           "|---|---|---|---|---|---|---|---|"]
    for c in comps:
        d = c.as_dict()
        notes = "; ".join(x for x in (c.row.note, c.verdict.reason if c.verdict.kind != NOT_COMPARABLE else "")
                          if x)
        verdict = d["verdict"]
        cells = [d["id"], d["ref"], d["setting"], d["metric"], d["published"], d["ours"], verdict, notes]
        out.append("| " + " | ".join(str(x or "").replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return out


def _train_seconds(r, run=None) -> float:
    """Training time recorded in a study's store: per group, its compile plus its epochs."""
    if getattr(r, "skipped_reason", "") or not r.run_dir.exists():
        return 0.0
    if run is None:
        import sweeplab

        try:
            run = sweeplab.load(r.run_dir)
        except Exception:  # noqa: BLE001 - a missing store has no recorded time
            return 0.0
    t = run.trials
    total = 0.0
    for _, g in t.groupby("group"):
        spe = _num(g["seconds_per_epoch"].max())
        ep = _num(g["epochs_run"].max())
        # seconds_per_epoch is the median epoch: with 1-2 epochs it already holds the compile
        total += spe * ep + (_num(g["compile_seconds"].max()) if ep >= 3 else 0.0)
    return total


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


def _dur(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    v = [x * scale for x in values if math.isfinite(x)]
    if not v:
        return "—"
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "") + f" (n = {len(v)})"


# ---------------------------------------------------------------------------- seed 004: tell the time

def _clocks_section(runs, loaded) -> list[str]:
    from sweeplab.reproduce.clocks import time_errors

    lines = ["## Tell the time: hour accuracy, minute error and the common-sense error", "",
             "Computed from each trial's stored test predictions (`predictions.npz`, both heads), not by the "
             "engine: the minute error is |Δminute| in minutes (Keras's mae on minute/60, x 60), wrapped at "
             "the hour in the next column; the common-sense error reads hour and minute together as a time "
             "and wraps |Δ| at 12 h (720 min). The report's reference: a minute mae under 4 minutes was never "
             "reached.", "",
             "| study | setting | hour accuracy (%) | minute error (min) | minute error wrapped at the hour (min) "
             "| common-sense error (min) |", "|---|---|---|---|---|---|"]
    for r in runs:
        run = loaded.get(r.name)
        if run is None or not r.name.startswith("seed004-clocks"):
            continue
        scale = float(r.study.spec.data.task.target_scale)
        t = run.trials
        axes = [a for a in r.study.axes if a in t.columns]
        for cid, g in t[t["status"] == "finished"].groupby("config_id", sort=False):
            errs = []
            for tid in g["trial_id"]:
                try:
                    errs.append(time_errors(run.data.predictions(tid), scale))
                except (KeyError, LookupError, OSError):
                    continue
            if not errs:
                continue
            setting = ", ".join(f"{a.rsplit('.', 1)[-1]} = {g[a].iloc[0]}" for a in axes) or "(the study)"
            col = lambda k, s=1.0: _mean_std([e[k] for e in errs], s)  # noqa: E731
            lines.append(f"| {r.name} | {setting} | {col('hour_accuracy', 100.0)} | {col('minute_error')} | "
                         f"{col('minute_error_cyclic')} | {col('time_error')} |")
    return lines + [""]


# ---------------------------------------------------------------------------- seed 001: own digit

def _own_digit_section(runs, loaded, base: Path) -> list[str]:
    """Exercise 3: a photo-like digit, classified by the best MNIST model of the seed's studies."""
    from sweeplab import imageprep
    from sweeplab.reproduce.photo import render

    lines = ["## Exercise 3: an own handwritten digit", ""]
    best = None
    for r in runs:
        run = loaded.get(r.name)
        if run is None or r.study is None or r.study.spec.data.dataset != "mnist":
            continue
        try:
            model = run.model()
        except LookupError:
            continue
        t = run.trials.set_index("trial_id")
        acc = _num(t.loc[model.trial_id, "test_accuracy"]) if "test_accuracy" in t.columns else 0.0
        if best is None or acc > best[0]:
            best = (acc, r.name, model)
    if best is None:
        return lines + ["No finished MNIST study of this seed: nothing to classify with.", ""]
    acc, study, model = best
    x, y = model.test_data()
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    i = int(np.flatnonzero(y == 7)[0]) if (y == 7).any() else 0
    digit = x[i].reshape(28, 28).astype(np.uint8)
    photo = base / "own-digit.jpg"
    photo.write_bytes(render(digit, np.random.default_rng(12)))
    pre = model.preprocessing
    prep = imageprep.prepare_file(photo, pre.dataset, model.input_shape, pre.max_value)
    probs = model.predict_heads(prep.x[None])
    head = model.network.heads[0]
    p = np.asarray(probs[head.name][0], np.float64)
    top = np.argsort(-p)[:3]
    imageprep.side_by_side(prep, pre.max_value).save(base / "own-digit-seen.png")
    guess = ", ".join(f"{k} ({p[k]:.3f})" for k in top)
    lines += [f"A photo-like rendering (dark ink on unevenly lit paper, JPEG) of MNIST test digit #{i} "
              f"(a {int(y[i])}), classified through `sweeplab predict`'s path (the dataset's preprocessing, "
              f"then the trained model) by the best MNIST model of this seed's studies: `{study}`, trial "
              f"`{model.trial_id}` (test accuracy {acc * 100:.2f} %).", "",
              "![photo-like digit](own-digit.jpg)", "",
              "![what the network saw](own-digit-seen.png)", "",
              f"Prediction (top 3): **{guess}** — {'correct' if int(top[0]) == int(y[i]) else 'wrong'}.",
              "",
              f"Same with the command line: `sweeplab predict {runs[0].run_dir.parent / study} "
              f"{photo}`.", ""]
    return lines


# ---------------------------------------------------------------------------- HTML

_CSS = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
        "vertical-align:top}th{background:#f3f3f3}blockquote{background:#fff3cd;border-left:5px solid #e0a800;"
        "margin:1em 0;padding:.6em 1em;font-size:16px}img{max-width:420px;border:1px solid #ddd}code{background:#f4f4f4}")


def _inline(text: str) -> str:
    s = html.escape(text, quote=False)
    s = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f'<img alt="{m.group(1)}" src="{m.group(2)}">', s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", s)


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def to_html(md: str, title: str) -> str:
    """The Markdown written by this module as a standalone HTML page."""
    out, para, lines = [], [], md.splitlines()

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            head, body = _cells(rows[0]), [r for r in rows[2:]]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in body]
            out.append("</table>")
            continue
        m = re.match(r"(#{1,4}) (.*)", line)
        if m:
            flush()
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif line.startswith("> "):
            flush()
            out.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    body = "\n".join(out)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")
