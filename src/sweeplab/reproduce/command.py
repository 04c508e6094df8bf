"""``sweeplab reproduce SEED``: run a seed report's studies and put its published numbers beside ours.

``sweeplab reproduce 000 [--quick] [--out DIR]`` trains every built-in study the
report's published file names (``reproduce/published/seed000.toml``) into
``DIR/seed000/<study>/`` through the normal run path (a rerun skips finished trials),
then writes ``DIR/seed000/reproduction.md`` and ``reproduction.html``
(:mod:`sweeplab.reproduce.document`). ``--list`` shows the seeds, their studies, trial
counts and the planner's work as an estimated time.

Mounted on the main app by :func:`mount`. A bad seed or option is one line and exit 2;
a study that cannot run here (SVHN has no local copy) is skipped and its rows are
marked not comparable with the reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

import typer

from sweeplab.errors import UserError
from sweeplab.reproduce.sizes import Size, all_sizes, available, load_size, reduce_study

if TYPE_CHECKING:
    from sweeplab.reproduce.published import Published
    from sweeplab.reproduce.quick import Profile


def __getattr__(name: str):
    # QUICK, TINY, Profile: re-exported lazily; importing the study loader (and JAX with it)
    # here would make ``sweeplab --help`` pay for it (this module is mounted on every start).
    if name in ("QUICK", "TINY", "Profile"):
        from sweeplab.reproduce import quick

        return getattr(quick, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



@dataclass
class StudyRun:
    """One study of a reproduction: where it ran, how long, or why it did not."""

    name: str
    run_dir: Path
    n_trials: int = 0
    trained: int = 0
    skipped: int = 0
    seconds: float = 0.0  # this invocation
    skipped_reason: str = ""  # not run at all (data not available here)
    study: object = field(default=None, repr=False)
    full: object = field(default=None, repr=False)  # the full-size study when a --size reduced it
    reduction: object = field(default=None, repr=False)  # its sizes.Reduction


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


def _usage(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _environment(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def data_missing(study) -> str:
    """Why the study's data are not here ('' when they are): datasets that cannot be read or fetched."""
    from sweeplab.data.loaders import is_cached
    from sweeplab.data.registry import DATASETS

    names = {study.spec.data.dataset} | {t.config["data"]["dataset"] for t in study.trials}
    missing = sorted(n for n in names if DATASETS.get(n).meta.get("kind") == "download" and not is_cached(n))
    if not missing:
        return ""
    return (f"no local copy of {', '.join(missing)} on this machine (and no network); the study stays "
            f"runnable where it downloads: sweeplab run {study.name}")


def load_sized(name: str, pub: Published, profile: Profile | None, size: Size | None) -> StudyRun:
    """A study of the seed as it will run: full, reduced by ``profile`` (--quick) or by ``size`` (--size)."""
    from sweeplab.reproduce.quick import load

    red = size.reduction(name) if size is not None else None
    if red is None:
        study = load(name, pub, profile)
        return StudyRun(name, Path(), n_trials=len(study.trials), study=study)
    full = load(name, pub, None)
    if red.skip:
        return StudyRun(name, Path(), study=full, full=full, reduction=red,
                        skipped_reason=f"at size {size.name}: {red.skip}")
    study = reduce_study(full, red)
    return StudyRun(name, Path(), n_trials=len(study.trials), study=study, full=full, reduction=red)


def run_seed(pub: Published, out: Path, profile: Profile | None,
             progress: Callable[[str], None] = lambda s: None,
             only: Sequence[str] | None = None, size: Size | None = None,
             executor: str = "auto") -> list[StudyRun]:
    """Train every study of ``pub`` (or those in ``only``) into ``out/<study>/`` (finished trials are skipped).

    ``executor``: each study's, by name (``auto``: chosen per study from its groups).
    """
    from sweeplab.engine.run import run_study
    from sweeplab.reproduce.quick import load

    runs = []
    for name in select(pub, only):
        sr = load_sized(name, pub, profile, size)
        sr.run_dir = out / name
        if sr.skipped_reason:
            progress(f"{name}: skipped: {sr.skipped_reason}")
            runs.append(sr)
            continue
        study = sr.study
        sr.skipped_reason = data_missing(study)
        if sr.skipped_reason:
            progress(f"{name}: skipped: {sr.skipped_reason}")
            runs.append(sr)
            continue
        progress(f"{name}: {len(study.trials)} trials -> {sr.run_dir}")
        t0 = time.perf_counter()
        summary = run_study(study, sr.run_dir, executor=executor)
        sr.seconds, sr.trained, sr.skipped = time.perf_counter() - t0, summary.n_trained, summary.n_skipped
        how = f"; executor: {summary.executor_choice.line()}" if summary.executor_choice else ""
        progress(f"{name}: trained {sr.trained}, skipped {sr.skipped} finished, {sr.seconds:.1f} s{how}")
        runs.append(sr)
    return runs


def select(pub: Published, only: Sequence[str] | None) -> list[str]:
    """The seed's studies, or the named ones of them (a name it lacks is a one-line error)."""
    from sweeplab.reproduce.quick import seed_studies

    names = seed_studies(pub)
    if not only:
        return names
    for n in only:
        if n not in names:
            raise UserError(f"--study: {n!r}: not a study of seed {pub.seed}; accepted: {', '.join(names)}")
    return [n for n in names if n in only]


def reproduce(seed: str, out: Path | None = None, *, quick: bool = False, profile: Profile | None = None,
              progress: Callable[[str], None] = lambda s: None, only: Sequence[str] | None = None,
              size: str | None = None, executor: str = "auto") -> Path:
    """Run seed ``seed``'s studies and write its reproduction; returns the reproduction.md path.

    Args:
        seed: ``"000"`` .. ``"004"`` (or ``"seed000"``).
        out: the tree's root (default ``runs/reproduce`` or ``runs/reproduce-quick``).
        quick: reduce every study with :data:`~sweeplab.reproduce.quick.QUICK`.
        profile: another reduction (the tests' :data:`~sweeplab.reproduce.quick.TINY`).
        only: run just these studies of the seed (the others' rows: not comparable, "study not run").
        size: a named reduced size of the seed (``reproduce/sizes/seedNNN.toml``, e.g. ``faithful-1h``);
            the tree is ``OUT/seedNNN-<size>/`` (default ``OUT``: ``runs/reproduce``).
        executor: where each study's groups train (``auto``, ``local``, ``processes``, ``ray``;
            ``auto``: local or one worker process per core, chosen per study).

    Raises:
        PublishedError: an unknown seed or size (one line).
    """
    from sweeplab.engine.executor import EXECUTORS
    from sweeplab.reproduce.document import write_reproduction
    from sweeplab.reproduce.published import load_published
    from sweeplab.reproduce.quick import QUICK, seed_studies

    pub = load_published(seed)
    if size is not None and (quick or profile is not None):
        raise UserError("--size: cannot be combined with --quick (a size is a reduced reproduction, "
                        "--quick a smoke test)")
    sized = load_size(pub.seed, size, seed_studies(pub)) if size is not None else None
    if profile is None and quick:
        profile = QUICK
    root = out if out is not None else Path("runs") / ("reproduce" if profile is None else "reproduce-quick")
    base = root / (f"seed{pub.seed}" + (f"-{sized.name}" if sized else ""))
    t0 = time.perf_counter()
    if executor not in EXECUTORS:
        raise UserError(f"--executor: {executor!r}: accepted: {', '.join(EXECUTORS)}")
    runs = run_seed(pub, base, profile, progress, only, sized, executor)
    return write_reproduction(pub, runs, base, profile, time.perf_counter() - t0, size=sized)


# ---------------------------------------------------------------------------- --list

def estimate(study) -> tuple[int, float, str]:
    """``(steps of work, estimated seconds, note)`` of a study from the planner's work.

    The planner gives each group's trials x epochs x steps; the time per step is a rough
    model (a fixed cost plus multiply-adds of a batch), fitted to 2-core CPU runs: an
    estimate, good to a factor of ~2-3. Early stopping can end trials sooner.
    """
    from sweeplab.engine import cost
    from sweeplab.engine.plan import plan_trials  # not engine.run: that loads the trainer (and JAX)

    reason = data_missing(study)
    if reason:
        return 0, 0.0, "data not here"
    planned = plan_trials(study.trials, study.spec.study.seed)
    units, seconds = 0, 0.0
    for g in planned:
        w = planned.work[g.key]
        units += w.epochs * max(w.steps, 1) * w.trials
        seconds += cost.COMPILE_SECONDS + cost.group_seconds(w)
    return units, seconds, ""


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def list_seeds(seeds: list[str], quick: bool, size: str | None = None) -> list[str]:
    """The --list lines: per seed its studies, trials, planner work and estimated time.

    A seed with reduced sizes (``reproduce/sizes/seedNNN.toml``) shows each size's estimate
    beside the full one (only ``size`` when given), per study and in total, with its command.
    A study with early stopping is estimated at its epoch cap ("at the cap"): an upper bound.
    """
    from sweeplab.reproduce.published import load_published
    from sweeplab.reproduce.quick import QUICK, load, seed_studies

    lines = [f"{'QUICK profile: ' + QUICK.label() if quick else 'full size'}; times are estimates from the "
             "planner's work (trials x epochs x steps) and a rough per-step cost model"]
    for seed in seeds:
        pub = load_published(seed)
        total = 0.0
        names = [] if quick else ([size] if size in available(pub.seed) else available(pub.seed) if size is None else [])
        sizes = [load_size(pub.seed, n, seed_studies(pub)) for n in names]
        totals = {sz.name: 0.0 for sz in sizes}
        lines.append(f"seed {pub.seed}: {pub.title} ({len(pub.rows)} published rows, "
                     f"{len(pub.comparable())} comparable)")
        for name in seed_studies(pub):
            study = load(name, pub, QUICK if quick else None)
            units, secs, note = estimate(study)
            total += secs
            cap = " at the cap" if study.spec.train.early_stopping is not None else ""
            est = note or f"~{_duration(secs)}{cap}"
            line = f"  {name:<28} {len(study.trials):>6} trials  {units:>12,} trial-steps  {est}"
            for sz in sizes:
                red = sz.reduction(name)
                if red is None:
                    totals[sz.name] += secs
                    line += f"  | {sz.name}: as full"
                    continue
                if red.skip:
                    line += f"  | {sz.name}: not run"
                    continue
                small = reduce_study(study, red)
                _, rsecs, _ = estimate(small)
                totals[sz.name] += rsecs
                from sweeplab.reproduce.sizes import describe

                line += (f"  | {sz.name}: {len(small.trials)} trials ~{_duration(rsecs)}{cap} "
                         f"({', '.join(describe(red, study, small))})")
            lines.append(line)
        lines.append(f"  total: ~{_duration(total)} (estimate)")
        for sz in sizes:
            lines.append(f"  {sz.name}: ~{_duration(totals[sz.name])} (estimate): sweeplab reproduce {pub.seed} "
                         f"--size {sz.name}  ({sz.summary})")
    return lines


# ---------------------------------------------------------------------------- the command

def command(
    seed: Optional[str] = typer.Argument(None, metavar="SEED", help="seed report: 000, 001, 002, 003 or 004"),
    quick: bool = typer.Option(False, "--quick", help="fewer epochs, 2 seeds, data subsets: a smoke test of "
                                                      "the whole path, NOT a reproduction"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="root of the run tree (default runs/reproduce, "
                                                                 "runs/reproduce-quick with --quick)"),
    list_: bool = typer.Option(False, "--list", help="show the seeds, studies, trials and estimated times"),
    study: Optional[List[str]] = typer.Option(None, "--study", metavar="NAME",
                                              help="run only this study of the seed (repeatable)"),
    size: Optional[str] = typer.Option(None, "--size", metavar="NAME",
                                       help="a named reduced size of the seed, e.g. faithful-1h (the largest "
                                            "faithful version that fits in ~1 h on 2 CPU cores; see --list)"),
    publish: Optional[Path] = typer.Option(None, "--publish", metavar="DIR",
                                           help="then write DIR/seedNNN.md (+ DIR/images/) from the run tree, "
                                                "e.g. docs/reproductions (python -m sweeplab.reproduce.publish "
                                                "does it for a finished tree without running)"),
    executor: str = typer.Option("auto", "--executor",
                                 help="where each study's groups train: auto (this process or one worker "
                                      "process per core, whichever is estimated faster), local, processes, ray"),
) -> None:
    """Run a seed report's studies and write reproduction.md/.html: published numbers beside ours.

    Each study runs into OUT/seedNNN/<study>/ through the normal run path, so a rerun
    skips finished trials. See docs/reproductions/README.md.
    """
    from sweeplab.errors import MachineError
    from sweeplab.reproduce.published import SEEDS, PublishedError, load_published

    if seed is not None and not re.fullmatch(r"(seed)?[0-9]{3}", seed):
        _usage(f"SEED: {seed!r}: accepted: {', '.join(SEEDS)}")
    try:
        if list_:
            seeds = [load_published(seed).seed] if seed else list(SEEDS)
            if size is not None and size not in all_sizes():
                _usage(f"--size: {size!r}: accepted: {', '.join(all_sizes())}")
            for line in list_seeds(seeds, quick, size):
                typer.echo(line)
            return
        if seed is None:
            _usage(f"SEED: missing; accepted: {', '.join(SEEDS)} (or --list)")
        path = reproduce(seed, out, quick=quick, progress=_say, only=study, size=size, executor=executor)
        page = None
        if publish is not None:
            from sweeplab.reproduce.publish import publish as write_page

            page = write_page(path.parent, publish)
    except PublishedError as e:
        _usage(str(e) if str(e).startswith(("--size", "sizes", "seed")) else f"SEED: {e}")
    except UserError as e:
        _usage(str(e))
    except MachineError as e:
        _environment(str(e))
    except OSError as e:
        _environment(f"{out or 'runs'}: {e.strerror or e}")
    typer.echo(f"reproduction: {path}")
    typer.echo(f"reproduction: {path.with_suffix('.html')}")
    if page is not None:
        typer.echo(f"published: {page}")


def mount(app: typer.Typer) -> None:
    """Add ``reproduce`` to the main app."""
    app.command("reproduce")(command)


__all__ = ["QUICK", "TINY", "StudyRun", "command", "estimate", "list_seeds", "mount", "reproduce", "run_seed"]
