"""``sweeplab``: run | check | summary | show | report | list | data.

Usage errors (a bad study file, a missing run directory, an unknown name)
print one line and exit with code 2; problems of the environment (a full disk,
a read-only folder) print one line and exit with code 1; there is no
traceback for either unless ``--debug`` asks for it. Only sweeplab's own errors
(:mod:`sweeplab.errors`) are shown this way: any other exception is a bug and
keeps its traceback. Ctrl-C, SIGTERM and SIGHUP print one line and exit with
128 + the signal number (130, 143, 129); see :mod:`sweeplab._signals`.

User text (study names, swept values, paths, error messages) is never read
as Rich markup: both consoles have markup and emoji codes off.
"""

from __future__ import annotations

import sys

from sweeplab import _signals


def _default_interrupt_message() -> str:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    if args[:1] == ["run"]:
        return "interrupted: 0 groups saved; run the same command again to resume"
    return "interrupted"


if __name__ == "__main__" or sys.argv[0].rsplit("/", 1)[-1] == "sweeplab":
    _signals.install()  # before Typer, Rich and JAX load: a signal during imports is handled too
    _signals.set_message(_default_interrupt_message)

from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import typer  # noqa: E402
from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402
from sweeplab.engine.progress import Progress  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Neural-network studies as one file and one command.")
console = Console(markup=False, emoji=False, highlight=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False)


#: ``sweeplab --debug``: also show the traceback of a sweeplab error (see :mod:`sweeplab.errors`).
_debug = False


def _fail(msg: str, code: int) -> None:
    """One line on stderr and exit ``code``; under ``--debug`` the traceback of the error being handled first."""
    if _debug and sys.exc_info()[1] is not None:
        import traceback

        err.print(traceback.format_exc().rstrip(), soft_wrap=True)
    err.print(Text.assemble(("error:", "bold red"), " ", msg), soft_wrap=True)
    raise typer.Exit(code)


def _usage(msg: str) -> None:
    """A mistake in the user's input: one line, exit 2.

    Called while a sweeplab error is being handled, the error decides: a
    :class:`~sweeplab.errors.MachineError` (disk full, read-only) exits 1.
    """
    from sweeplab.errors import exit_code

    e = sys.exc_info()[1]
    _fail(msg, exit_code(e) if e is not None else 2)


def _environment(msg: str) -> None:
    """A problem of the machine (disk full, read-only folder): one line, exit 1."""
    _fail(msg, 1)


def _store_error(e: BaseException) -> None:
    """A damaged or missing store is the user's input (exit 2); a full or read-only disk is not (exit 1)."""
    from sweeplab.errors import exit_code

    _fail(str(e), exit_code(e))


def _os_error(where, e: OSError, doing: str) -> None:
    what = e.strerror or str(e)
    path = e.filename2 or e.filename or where  # os.replace(tmp, dest): name the destination
    _environment(f"{path}: cannot {doing}: {what}")


def _version(value: bool) -> None:
    if value:
        from sweeplab import __version__

        console.print(f"sweeplab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit"),
          debug: bool = typer.Option(False, "--debug", help="show the traceback of an error, also of a "
                                                             "mistake in the input")) -> None:
    """Neural-network studies as one file and one command."""
    global _debug
    _debug = debug


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions shown as one line (exit 2, or 1 for the machine's problems): sweeplab's own.

    Anything else is a bug and keeps its traceback (a ``ValueError`` from a
    shape mistake inside JAX is not the user's fault).
    """
    from sweeplab.errors import SweeplabError

    return (SweeplabError,)


def _load(study: str):
    from sweeplab.spec.errors import StudyError
    from sweeplab.spec.expand import load_study

    try:
        return load_study(study)
    except StudyError as e:
        _usage(str(e))
    except OSError as e:
        _usage(f"{study}: cannot read: {e.strerror}")


def _as_run_dir(path: Path) -> Path:
    """A run directory; the results file itself (``runs/x/results.sqlite``) names its folder."""
    return path.parent if path.is_file() else path


def _run_dir(path: Path, all_trials: bool = False):
    from sweeplab.store import StoreError, load

    try:
        return load(_as_run_dir(path), all=all_trials)
    except StoreError as e:
        _store_error(e)


def _device() -> str:
    """``cpu (2 cores)`` or the accelerator's name."""
    import os

    import jax

    devs = jax.devices()
    d = devs[0]
    if d.platform == "cpu":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        return f"cpu ({cores} core{'s' if cores != 1 else ''})"
    kind = getattr(d, "device_kind", d.platform)
    return f"{d.platform} {kind}" + (f" (x{len(devs)}, using 1)" if len(devs) > 1 else "")


# --------------------------------------------------------------------------- run
class _SafePoints(Progress):
    """Forwards the engine's progress events (as callbacks) to a display; each is also a safe point for signals.

    A signal is acted on at an epoch end (the group in flight is dropped) or
    right after a group's commit (kept); between a group's end and its commit
    the watchdog of :mod:`sweeplab._signals` waits instead of cutting the commit.
    """

    def __init__(self, display):
        self.display = display
        self.n_groups: int | None = None
        self.saved = 0

    @property
    def indexed(self) -> bool:
        """The group's index reaches epoch_end/group_end when the display takes it (groups in parallel)."""
        return bool(getattr(self.display, "indexed", False))

    def __enter__(self):
        self.display.__enter__()
        return self

    def __exit__(self, *exc):
        _signals.end_critical()
        self.display.__exit__(*exc)

    def message(self) -> str:
        of = f" of {self.n_groups}" if self.n_groups is not None else ""
        return f"interrupted: {self.saved}{of} groups saved; run the same command again to resume"

    def run_start(self, groups):
        self.n_groups = self.saved + len(groups)  # a search's later rounds add to its earlier ones
        self.display.run_start(groups)
        _signals.check()

    def group_start(self, *args, **kw):
        _signals.check()
        self.display.group_start(*args, **kw)

    def epoch_end(self, *args, **kw):
        self.display.epoch_end(*args, **kw)
        _signals.check()

    def group_end(self, seconds, **kw):
        self.display.group_end(seconds, **kw)
        _signals.begin_critical()  # the commit follows

    def group_saved(self, index):
        _signals.end_critical()
        self.saved += 1  # groups may finish out of order under a parallel executor
        self.display.group_saved(index)
        _signals.check()


@app.command()
def run(
    ctx: typer.Context,
    study: str = typer.Argument(..., metavar="STUDY", help="study file (TOML/YAML) or the name of a built-in study"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (default runs/<study name>)"),
    fresh: bool = typer.Option(False, "--fresh",
                               help="start over; earlier results are moved to <out>.old-<time>"),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.html at the end"),
    max_group_size: Optional[int] = typer.Option(None, min=1, help="at most this many trials per compiled group"),
    executor: str = typer.Option("auto", "--executor",
                                 help="where groups train: local (this process), processes (one group per "
                                      "worker process), ray (a Ray cluster), auto (local or processes, whichever "
                                      "is estimated faster for the planned groups); see docs/scaling.md"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="--executor processes/auto: worker processes (default: one per "
                                               "core)"),
    address: Optional[str] = typer.Option(None, "--address",
                                          help="--executor ray: the cluster, auto or HOST:PORT"),
) -> None:
    """Train every trial of a study (finished trials are skipped: a rerun resumes)."""
    from sweeplab import progress as displays

    safe = _SafePoints(displays.auto(err))
    _signals.set_message(safe.message)
    _signals.check()
    from sweeplab.engine.cache import enable_compilation_cache
    from sweeplab.engine.executor import Auto, make_executor, resolve
    from sweeplab.engine.run import default_run_dir, plan, run_study
    from sweeplab.store import RunLock, StoreError, finished_ids

    enable_compilation_cache()
    _signals.check()
    try:
        if executor == "auto":  # chosen by run_study from the planned groups; its options checked now
            resolve("auto", [], workers=workers, address=address)
            runner = Auto(workers)
        else:
            runner = make_executor(executor, workers=workers, address=address)
        if hasattr(runner, "connect"):  # a cluster: reached (or refused) before anything is written
            runner.connect()
    except _user_errors() as e:
        _usage(f"--{e}")
    if hasattr(runner, "close"):
        ctx.call_on_close(runner.close)
    s = _load(study)
    run_dir = out or default_run_dir(s)
    try:  # held until the command ends; removed again if no store gets created
        lock = ctx.with_resource(RunLock(run_dir))
        done = set() if fresh else finished_ids(run_dir)
    except StoreError as e:
        _store_error(e)
    planned = None
    if s.spec.is_search:  # configurations are asked as it runs: print the search plan
        console.print(Text.assemble((s.name, "bold"), f" -> {run_dir}"))
        for line in _search_lines(s):
            console.print(line)
    else:
        try:
            planned = plan(s, max_group_size=max_group_size)
        except _user_errors() as e:
            _usage(f"{s.source}: {e}")
        groups = planned.pending(done)
        _signals.check()
        safe.n_groups = len(groups)
        n_todo = sum(len(g.trials) for g in groups)
        console.print(Text.assemble((s.name, "bold"), f": {len(s.trials)} trials, {n_todo} to train in "
                                    f"{len(groups)} compiled group(s) -> {run_dir}"))
    console.print(f"device: {_device()}")
    from sweeplab.dashboard.progress_file import with_progress_file  # progress.json for `sweeplab serve`

    safe.display = with_progress_file(safe.display, run_dir)
    try:
        with safe:
            summary = run_study(s, run_dir, fresh=fresh, progress=safe, lock=lock, planned=planned,
                                max_group_size=max_group_size, executor=runner,
                                on_choice=lambda c: console.print(f"executor: {c.line()}"))
    except StoreError as e:
        _store_error(e)
    except _user_errors() as e:  # data missing, or a model that does not fit the data
        _usage(f"{s.source}: {e}")
    except OSError as e:  # disk full, read-only run directory
        _os_error(run_dir, e, "write results")
    _signals.check()
    console.print(f"trained {summary.n_trained}, skipped {summary.n_skipped} finished, "
                  f"{summary.seconds:.1f} s")
    _print_summary(_run_dir(run_dir))
    if report:
        _signals.check()
        _write_report(run_dir)


def _write_report(run_dir: Path, run=None, force: bool = False) -> None:
    from sweeplab.report import write_report

    try:
        path = write_report(run_dir, run=run, force=force)
    except _user_errors() as e:  # a damaged store, a [report] select_by that names no recorded metric
        _store_error(e)
    except OSError as e:  # disk full, read-only run directory
        _os_error(run_dir, e, "write the report")
    console.print(f"report: {path}")


@app.command()
def check(study: str = typer.Argument(..., metavar="STUDY", help="study file or built-in study name")) -> None:
    """Validate a study file; print its trials and compiled groups."""
    from sweeplab.engine.plan import plan_trials  # not engine.run: that loads the trainer (and JAX)

    s = _load(study)
    if s.spec.is_search:
        console.print(f"{s.source}: ok — study {s.name!r}:")
        for line in _search_lines(s):
            console.print("  " + line)
        return
    try:
        groups = plan_trials(s.trials, s.spec.study.seed).groups
    except _user_errors() as e:
        _usage(f"{s.source}: {e}")
    n_configs = len({t.config_id for t in s.trials})
    console.print(f"{s.source}: ok — study {s.name!r}:")
    console.print(f"  {n_configs} configuration(s) x {s.spec.study.repeats} repeat(s)"
                  + (f" x {s.spec.train.cross_validation} folds" if s.spec.train.cross_validation else "")
                  + f" = {len(s.trials)} trials in {len(groups)} compiled group(s)")
    if s.axes:
        console.print("  sweep axes: " + ", ".join(s.axes))


def _search_lines(s) -> list[str]:
    """The search plan of a random/TPE study (strategy, rounds, objective, axes); bad input exits 2."""
    from sweeplab.engine.search import search_plan

    try:
        return search_plan(s).lines()
    except _user_errors() as e:
        _usage(f"{s.source}: {e}")


def _configurations(s) -> list[tuple[dict, object]]:
    """``(overrides, first trial)`` of each configuration, in study order (a search: its space's corners)."""
    if s.spec.is_search:
        from sweeplab.spec.expand import corners, expand_one

        return [(o, expand_one(s.spec, s.raw, o, s.source)[0]) for o in corners(s.space)]
    seen: dict[str, tuple[dict, object]] = {}
    for t in s.trials:
        seen.setdefault(t.config_id, (t.overrides, t))
    return list(seen.values())


def _config_label(overrides: dict) -> str:
    from sweeplab.values import label

    names = _short_names(list(overrides))
    return ", ".join(f"{n}={label(v)}" for n, v in zip(names, overrides.values())) or "the only configuration"


@app.command()
def summary(
    study: str = typer.Argument(..., metavar="STUDY", help="study file or built-in study name"),
    config: Optional[int] = typer.Option(None, "--config", "-c", min=1,
                                         help="configuration number (1 = the first; see --all)"),
    all_: bool = typer.Option(False, "--all", help="every configuration (identical models shown once)"),
) -> None:
    """Keras-style model summary (layer, output shape, parameters) of one configuration."""
    from sweeplab.trial import summary_table

    s = _load(study)
    configs = _configurations(s)
    if config is not None and config > len(configs):
        _usage(f"--config {config}: {s.name} has {len(configs)} configuration(s); accepted: 1..{len(configs)}")
    if all_:
        chosen = list(range(len(configs)))
    else:
        chosen = [(config or 1) - 1]
    tables: dict[tuple, list[int]] = {}
    results = {}
    for i in chosen:
        try:
            rows, total = summary_table(configs[i][1].config, s.spec.study.seed)
        except _user_errors() as e:
            _usage(f"{s.source}: {e}")
        key = (tuple(rows), total)
        tables.setdefault(key, []).append(i)
        results[key] = (rows, total)
    for key, members in tables.items():
        rows, total = results[key]
        head = f"configuration{'s' if len(members) > 1 else ''} " + ", ".join(str(i + 1) for i in members)
        console.print(f"{head} of {len(configs)}" + (" (the same model):" if len(members) > 1 else ":"))
        for i in members:
            console.print(f"  {i + 1}: {_config_label(configs[i][0])}")
        t = Table(title=f'Model: "{s.name}"')
        for col in ("Layer (type)", "Output Shape", "Param #"):
            t.add_column(col, justify="right" if col == "Param #" else "left")
        for name, kind, shape, n in rows:
            t.add_row(f"{name} ({kind})", shape, f"{n:,}")
        _print_table(t)
        full = sum(r[3] for r in rows)  # per layer: trainable + non-trainable (batch-norm statistics)
        console.print(f"Total params: {full:,}\nTrainable params: {total:,}\nNon-trainable params: {full - total:,}")
    if not all_ and len(configs) > 1:
        console.print("(--config N shows another configuration, --all shows each)")


def _print_table(t: Table, out: Console | None = None) -> None:
    """Print a table; when it is wider than the terminal, first drop the borders and
    narrow the gaps between columns, so cells wrap only as a last resort."""
    from rich import box

    out = out or console

    def natural() -> int:
        return out.measure(t, options=out.options.update_width(10_000)).maximum

    if natural() > out.width:
        t.box, t.show_edge, t.pad_edge, t.collapse_padding = box.SIMPLE_HEAD, False, False, True
        for padding in ((0, 1), (0, 0)):
            t.padding = padding
            if natural() <= out.width:
                break
    out.print(t)


def _cell(value, width: int = 48) -> str:
    """A swept value for a table cell; a layer list reads ``conv2d(32,relu) > max_pooling2d > ...``."""
    from sweeplab import values as V

    value = V.canonical(value)
    if isinstance(value, V.SweepList) and value.items and all(isinstance(v, V.SweepDict) and v.get("type")
                                                               for v in value.items):
        def one(layer):
            args = [V.label(layer.get(k)) for k in ("units", "filters", "rate") if layer.get(k) is not None]
            if layer.get("activation") not in (None, "linear"):
                args.append(str(layer.get("activation")))
            return str(layer.get("type")) + (f"({','.join(args)})" if args else "")

        text = " > ".join(one(v) for v in value.items)
    else:
        text = V.label(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _short_names(paths: list[str]) -> list[str]:
    """The shortest unique dotted suffix of each axis path (model.mlp.hidden -> hidden)."""
    from sweeplab.analysis.notebook import short_names

    return short_names(paths)


def _summary_columns(rd, metrics, sort):
    """The metric columns and the ranking column of the results table, chosen
    as the report chooses them (validation first when the study has it)."""
    from sweeplab.analysis import tables
    from sweeplab.errors import UserError

    sel = rd.selection
    recorded = ", ".join(tables.metric_columns(rd.trials))

    def resolve(option, name):
        try:
            return tables.selection(rd.trials, None, name, rd.study)
        except ValueError:
            raise UserError(f"{option}: unknown metric {name!r}; recorded: {recorded}") from None

    if sort:
        sort = sort if sort in rd.trials.columns else resolve("--sort", sort).metric
    if not metrics:
        cols = sel.columns + [sel.loss]
    else:
        cols = []
        for m in metrics:
            cols += [m] if m in rd.trials.columns else resolve("--metric", m).columns
    cols = [c for c in dict.fromkeys(cols) if c in rd.trials.columns]
    sort = sort or (sel.metric if not metrics else cols[0])
    return cols, sort, sel


def _seconds(s) -> str:
    from sweeplab.analysis.stats import format_seconds

    return format_seconds(s)


def _print_summary(run, metrics=None, sort=None, top=None) -> None:
    """The results table: one row per configuration, ranked like the report
    (on validation data when the study has it), pending configurations last."""
    from sweeplab.analysis import tables
    from sweeplab.analysis.rundata import RunData
    from sweeplab.analysis.stats import format_mean_std

    rd = RunData.from_run(run)
    all_trials = run.trials
    axes = list(rd.axes)
    name = (rd.study.get("study") or {}).get("name", "") if rd.study else ""
    pruned = set(rd.pruned["config_id"]) if not rd.pruned.empty else set()
    if pruned:  # a search's pruned configurations are not ranked (as in the report): listed last, "pruned"
        all_trials = all_trials.assign(status=all_trials["status"].where(
            ~all_trials["trial_id"].astype(str).isin(set(rd.pruned.index)), "pruned"))
    if rd.trials.empty:
        what = f"every configuration was pruned ({len(pruned)})" if pruned else "no finished trials yet"
        t = Table(title=f"{name}: {what} ({len(all_trials)} registered)")
        for c in _short_names(axes) + ["n"]:
            t.add_column(c, overflow="fold")
        console.print(t)
        return
    asked = sort
    cols, sort, sel = _summary_columns(rd, metrics, sort)
    table = tables.summarize(all_trials, axes, cols, sort_by=sort, top_n=top)  # pending configurations last
    ranked = "ranked by " + tables._label(sort)
    if not asked and sel.split == "test" and sort == sel.metric:
        ranked += " (no validation data)"
    digits = 4 if console.width >= 100 else 3
    t = Table(title=f"{name}: mean ± std over seeds, {ranked}", title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False)
    widths = [min(24, max([len(c)] + [len(_cell(v)) for v in table[a]])) for a, c in zip(axes, _short_names(axes))]
    fits = sum(widths) + 2 * len(widths) + (5 + 2 * digits + (3 if digits == 4 else 1)) * len(cols) + 12 <= console.width
    for (a, c), width in zip(zip(axes, _short_names(axes)), widths):
        t.add_column(c, overflow="fold", min_width=width)
    t.add_column("n", justify="right")
    for c in cols:
        t.add_column(tables._label(c), justify="right", no_wrap=fits)
    t.add_column("time/ep", justify="right", no_wrap=True)
    for _, row in table.iterrows():
        cells = [_cell(row[a]) for a in axes]
        n = f"{int(row['n'])}" + (f" ({int(row['diverged'])} diverged)" if row.get("diverged", 0) else "")
        if row.get("config_id") in pruned:
            n = "pruned"
        cells.append(n + (" ⚠" if row.get("degenerate") else ""))
        for c in cols:
            text = format_mean_std(row[c], row[f"{c}_std"], digits=digits).replace("–", "—")
            cells.append(text if digits == 4 else text.replace(" ± ", "±"))
        cells.append(_seconds(row.get("time_per_epoch")))
        t.add_row(*cells)
    _print_table(t)
    if sel.note and sort == sel.metric:
        console.print(sel.note)


@app.command()
def show(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="run directory (holds results.sqlite)"),
    metric: Optional[list[str]] = typer.Option(None, "--metric", "-m", help="metric(s) to show, e.g. test_accuracy"),
    sort: Optional[str] = typer.Option(None, "--sort", help="sort by this metric"),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="show only the best N configurations"),
    all_: bool = typer.Option(False, "--all", help="every trial stored, also those of earlier versions of the study"),
) -> None:
    """One row per configuration: mean ± std over seeds of the chosen metrics, sorted."""
    run = _run_dir(run_dir, all_)
    try:
        _print_summary(run, metric, sort, top)
    except _user_errors() as e:  # an unknown metric, a damaged store, an unreadable disk
        _store_error(e)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="run directory"),
    all_: bool = typer.Option(False, "--all", help="every trial stored, also those of earlier versions of the study"),
) -> None:
    """Write report.html, report.md, figures/ and tables/ into the run directory."""
    _write_report(_as_run_dir(run_dir), _run_dir(run_dir, all_), force=True)


@app.command("list")
def list_cmd(what: str = typer.Argument("studies", metavar="TOPIC", help="studies | vocab | datasets")) -> None:
    """List built-in studies, the vocabulary (activations, optimizers, ...) or datasets."""
    if what == "studies":
        from sweeplab.spec.expand import builtin_studies, load_study

        t = Table("study", "trials", "description")
        for name, path in builtin_studies().items():
            s = load_study(path)
            t.add_row(name, str(s.n_trials), s.spec.study.description)
        _print_table(t)
        console.print("The seedNNN-* studies reproduce, one experiment each, five published student lab "
                      "reports on neural networks (NNN = the report; 'Sec.', 'Fig.', 'Table' cite it): "
                      "see docs/seeds.md. Copy a study's file to start your own (sweeplab check NAME "
                      "prints where it is).")
    elif what == "vocab":
        from sweeplab.models.layers import LAYERS
        from sweeplab.vocab import ACTIVATIONS, INITIALIZERS, LOSSES, METRICS, OPTIMIZERS

        for reg in (LAYERS, ACTIVATIONS, INITIALIZERS, OPTIMIZERS, LOSSES, METRICS):
            t = Table(title=_plural(reg.kind), title_justify="left")
            t.add_column("name", overflow="fold")  # long names and defaults wrap, never cut
            t.add_column("parameters (defaults)", overflow="fold")  # one per line
            t.add_column("description", overflow="fold")
            for e in reg:
                ps = "\n".join(f"{p.name}={p.default!r}" for p in e.params)
                t.add_row(e.name + (f" ({', '.join(e.aliases)})" if e.aliases else ""), ps, e.doc)
            _print_table(t)
    elif what == "datasets":
        from sweeplab.data.cli import list_cmd as data_list

        data_list()
    else:
        _usage(f"list: unknown topic {what!r}; accepted: studies, vocab, datasets")


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _mount_data() -> None:
    from sweeplab.data.cli import app as data_app

    app.add_typer(data_app, name="data")
    from sweeplab.dashboard.cli import mount

    mount(app)


def _mount_models() -> None:
    from sweeplab.cli_models import mount

    mount(app)  # predict, export


def _mount_reproduce() -> None:
    from sweeplab.reproduce.command import mount

    mount(app)  # reproduce


def main() -> None:
    """The ``sweeplab`` command (signal handlers first, then the commands)."""
    import os

    if not _signals.installed():
        _signals.install()
        _signals.set_message(_default_interrupt_message)
    code = 0
    try:
        os.environ.setdefault("MPLBACKEND", "Agg")
        _mount_data()
        _mount_models()
        _mount_reproduce()
        _signals.check()
        app(standalone_mode=True)
    except SystemExit as e:
        code = e.code
    except _signals.Interrupted:
        pass
    _signals.block()  # a signal during the interpreter's shutdown must not kill it silently
    if _signals.pending() is not None:  # also a signal that came after the last safe point
        _interrupted()
    sys.exit(code)


def _interrupted() -> None:
    """Print the interruption line once and exit with 128 + the signal number.

    The store is closed by now (the ``with`` blocks unwound), so the process
    ends with ``os._exit``: the interpreter's own shutdown (JAX's clean-up)
    takes seconds, and a user who pressed Ctrl-C wants the prompt back.
    """
    import os
    import time

    if _signals.claim():
        try:
            err.print(_signals.message_line(), soft_wrap=True)
        except OSError:  # SIGHUP: the terminal may be gone
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(128 + _signals.pending())
    while True:  # the watchdog claimed it: it prints the line and ends the process
        time.sleep(1)


if __name__ == "__main__":
    main()
