"""``sweeplab``: run | check | summary | show | report | list | data.

Usage errors (a bad study file, a missing run directory, an unknown name)
print one line and exit with code 2; there is never a traceback for a
mistake in the user's own input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural-network studies as one file and one command.")
console = Console()
err = Console(stderr=True)


def _usage(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input or missing data (one message, exit 2), not a bug."""
    from sweeplab.data.download import DownloadError

    return (ValueError, DownloadError)


def _load(study: str):
    from sweeplab.spec.errors import StudyError
    from sweeplab.spec.expand import load_study

    try:
        return load_study(study)
    except StudyError as e:
        _usage(str(e))
    except OSError as e:
        _usage(f"{study}: cannot read: {e.strerror}")


def _run_dir(path: Path):
    from sweeplab.store import StoreError, load

    try:
        return load(path)
    except StoreError as e:
        _usage(str(e))


# --------------------------------------------------------------------------- run
class _RichProgress:
    """Progress bars: one for the groups, one for the epochs of the group in flight."""

    def __init__(self, total_groups: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            TextColumn("{task.fields[info]}"), console=err, transient=False)
        self.groups = self.bar.add_task("groups", total=total_groups, info="")
        self.epochs = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def group_start(self, index, n_groups, n_trials, epochs, label):
        if self.epochs is not None:
            self.bar.remove_task(self.epochs)
        self.epochs = self.bar.add_task(f"group {index + 1}/{n_groups} ({n_trials} trials)", total=epochs, info="")

    def epoch_end(self, epoch, seconds, summary):
        info = "  ".join(f"{k} {v:.4g}" for k, v in summary.items())
        per = f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
        self.bar.update(self.epochs, completed=epoch, info=f"{per}/epoch  {info}")

    def group_end(self, seconds):
        if self.epochs is not None:
            total = next(t.total for t in self.bar.tasks if t.id == self.epochs)
            self.bar.update(self.epochs, completed=total)
        self.bar.advance(self.groups)


@app.command()
def run(
    study: str = typer.Argument(..., help="study file (TOML/YAML) or the name of a built-in study"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (default runs/<study name>)"),
    fresh: bool = typer.Option(False, "--fresh", help="discard earlier results and start over"),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.html at the end"),
    max_group_size: Optional[int] = typer.Option(None, min=1, help="at most this many trials per compiled group"),
) -> None:
    """Train every trial of a study (finished trials are skipped: a rerun resumes)."""
    from sweeplab.engine.run import default_run_dir, plan, run_study
    from sweeplab.store import Store, StoreError

    s = _load(study)
    run_dir = out or default_run_dir(s)
    try:
        with Store(run_dir) as store:
            done = set() if fresh else store.finished_ids()
    except StoreError as e:
        _usage(str(e))
    try:
        groups = plan(s, done, max_group_size=max_group_size)
    except _user_errors() as e:
        _usage(f"{s.source}: {e}")
    n_todo = sum(len(g.trials) for g in groups)
    console.print(f"[bold]{s.name}[/]: {len(s.trials)} trials, {n_todo} to train in {len(groups)} compiled "
                  f"group(s) -> {run_dir}", highlight=False)
    try:
        with _RichProgress(len(groups)) as progress:
            summary = run_study(s, run_dir, fresh=fresh, progress=progress, max_group_size=max_group_size)
    except StoreError as e:
        _usage(str(e))
    except _user_errors() as e:  # data missing, or a model that does not fit the data
        _usage(f"{s.source}: {e}")
    console.print(f"trained {summary.n_trained}, skipped {summary.n_skipped} finished, "
                  f"{summary.seconds:.1f} s", highlight=False)
    _print_summary(_run_dir(run_dir))
    if report:
        _write_report(run_dir)


def _write_report(run_dir: Path) -> None:
    try:
        from sweeplab.report import write_report
    except ImportError as e:  # pragma: no cover - report module missing
        err.print(f"report skipped: {e}")
        return
    path = write_report(run_dir)
    console.print(f"report: {path}", highlight=False)


@app.command()
def check(study: str = typer.Argument(..., help="study file or built-in study name")) -> None:
    """Validate a study file; print its trials and compiled groups."""
    from sweeplab.engine.run import plan

    s = _load(study)
    try:
        groups = plan(s)
    except _user_errors() as e:
        _usage(f"{s.source}: {e}")
    n_configs = len({t.config_id for t in s.trials})
    console.print(f"{s.source}: ok — study {s.name!r}: {n_configs} configuration(s) x "
                  f"{s.spec.study.repeats} repeat(s)"
                  + (f" x {s.spec.train.cross_validation} folds" if s.spec.train.cross_validation else "")
                  + f" = {len(s.trials)} trials in {len(groups)} compiled group(s)", highlight=False)
    if s.axes:
        console.print("sweep axes: " + ", ".join(s.axes), highlight=False)


@app.command()
def summary(study: str = typer.Argument(..., help="study file or built-in study name")) -> None:
    """Keras-style model summary (layer, output shape, parameters) of the study's first trial."""
    from sweeplab.models.summary import summary_table

    s = _load(study)
    try:
        rows, total = summary_table(s.trials[0].config, s.spec.study.seed)
    except _user_errors() as e:
        _usage(f"{s.source}: {e}")
    t = Table(title=f'Model: "{s.name}"')
    for col in ("Layer (type)", "Output Shape", "Param #"):
        t.add_column(col, justify="right" if col == "Param #" else "left")
    for name, kind, shape, n in rows:
        t.add_row(f"{name} ({kind})", shape, f"{n:,}")
    console.print(t)
    console.print(f"Total params: {total:,}\nTrainable params: {total:,}\nNon-trainable params: 0")


def _cell(value, width: int = 48) -> str:
    """A swept value for a table cell; a layer list reads ``conv2d(32,relu) > max_pooling2d > ...``."""
    from sweeplab import values as V

    value = V.canonical(value)
    if isinstance(value, V.SweepList) and value and all(isinstance(v, V.SweepDict) and v.get("type") for v in value):
        def one(layer):
            args = [V.label(layer.get(k)) for k in ("units", "filters", "rate") if layer.get(k) is not None]
            if layer.get("activation") not in (None, "linear"):
                args.append(str(layer.get("activation")))
            return str(layer.get("type")) + (f"({','.join(args)})" if args else "")

        text = " > ".join(one(v) for v in value)
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

    sel = rd.selection
    recorded = ", ".join(tables.metric_columns(rd.trials))

    def resolve(option, name):
        try:
            return tables.selection(rd.trials, None, name, rd.study)
        except ValueError:
            raise ValueError(f"{option}: unknown metric {name!r}; recorded: {recorded}") from None

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
    """A trial's share of its group's time per epoch: ``4.1 ms`` or ``0.35 s``."""
    if s is None or s != s:
        return "—"
    return f"{s * 1e3:.2g} ms" if s < 0.01 else (f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s")


def _print_summary(run, metrics=None, sort=None, top=None) -> None:
    """The results table: one row per configuration, ranked like the report
    (on validation data when the study has it), pending configurations last."""
    from sweeplab import values as V
    from sweeplab.analysis import tables
    from sweeplab.analysis.rundata import RunData
    from sweeplab.analysis.stats import format_mean_std

    rd = RunData.from_run(run)
    all_trials = run.trials
    axes = list(rd.axes)
    name = (rd.study.get("study") or {}).get("name", "") if rd.study else ""
    if rd.trials.empty:
        t = Table(title=f"{name}: no finished trials yet ({len(all_trials)} registered)")
        for c in _short_names(axes) + ["n"]:
            t.add_column(c, overflow="fold")
        console.print(t)
        return
    asked = sort
    cols, sort, sel = _summary_columns(rd, metrics, sort)
    table = tables.config_table(rd.trials, axes, cols, sort_by=sort)
    if top:
        table = table.head(top)
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
        cells.append(n + (" ⚠" if row.get("degenerate") else ""))
        for c in cols:
            text = format_mean_std(row[c], row[f"{c}_std"], digits=digits).replace("–", "—")
            cells.append(text if digits == 4 else text.replace(" ± ", "±"))
        cells.append(_seconds(row.get("time_per_epoch")))
        t.add_row(*cells)
    if not top and "status" in all_trials.columns and len(all_trials):
        done = set(rd.trials["config_id"]) if "config_id" in rd.trials else set()
        pending = all_trials[~all_trials["config_id"].isin(done)].drop_duplicates("config_id")
        for _, row in pending.iterrows():
            t.add_row(*[_cell(V.canonical(row.get(a))) for a in axes], "0", *["—"] * (len(cols) + 1))
    console.print(t)
    if sel.note and sort == sel.metric:
        console.print(sel.note, highlight=False, markup=False)


@app.command()
def show(
    run_dir: Path = typer.Argument(..., help="run directory (holds results.sqlite)"),
    metric: Optional[list[str]] = typer.Option(None, "--metric", "-m", help="metric(s) to show, e.g. test_accuracy"),
    sort: Optional[str] = typer.Option(None, "--sort", help="sort by this metric"),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="show only the best N configurations"),
) -> None:
    """One row per configuration: mean ± std over seeds of the chosen metrics, sorted."""
    run = _run_dir(run_dir)
    from sweeplab.store import StoreError

    try:
        _print_summary(run, metric, sort, top)
    except (KeyError, ValueError, StoreError) as e:
        _usage(str(e).strip("'\""))


@app.command()
def report(run_dir: Path = typer.Argument(..., help="run directory")) -> None:
    """Write report.html, report.md, figures/ and tables/ into the run directory."""
    _run_dir(run_dir)
    _write_report(run_dir)


@app.command("list")
def list_cmd(what: str = typer.Argument("studies", help="studies | vocab | datasets")) -> None:
    """List built-in studies, the vocabulary (activations, optimizers, ...) or datasets."""
    if what == "studies":
        from sweeplab.spec.expand import builtin_studies, load_study

        t = Table("study", "trials", "description")
        for name, path in builtin_studies().items():
            s = load_study(path)
            t.add_row(name, str(len(s.trials)), s.spec.study.description)
        console.print(t)
    elif what == "vocab":
        from sweeplab.models.layers import LAYERS
        from sweeplab.vocab import ACTIVATIONS, INITIALIZERS, LOSSES, METRICS, OPTIMIZERS

        for reg in (LAYERS, ACTIVATIONS, INITIALIZERS, OPTIMIZERS, LOSSES, METRICS):
            t = Table(title=f"{reg.kind}s", title_justify="left")
            t.add_column("name")
            t.add_column("parameters (defaults)")
            t.add_column("description")
            for e in reg:
                ps = ", ".join(f"{p.name}={p.default!r}" for p in e.params)
                t.add_row(e.name + (f" ({', '.join(e.aliases)})" if e.aliases else ""), ps, e.doc)
            console.print(t)
    elif what == "datasets":
        from sweeplab.data.cli import list_cmd as data_list

        data_list()
    else:
        _usage(f"list: unknown topic {what!r}; accepted: studies, vocab, datasets")


def _mount_data() -> None:
    from sweeplab.data.cli import app as data_app

    app.add_typer(data_app, name="data")


def main() -> None:
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    _mount_data()
    from sweeplab.engine.cache import enable_compilation_cache

    enable_compilation_cache()
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted: finished groups are saved; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
