"""``sweeplab data``: list, fetch and inspect datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from sweeplab.errors import UserError

app = typer.Typer(help="Datasets: list, fetch (verified download), info (shapes, class "
                       "counts, sample figures).", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


def _usage(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _entry(name: str):
    from .registry import DATASETS

    try:
        return DATASETS.get(name)
    except UserError as e:
        _usage(str(e))


def _human(n: int | None) -> str:
    if not n:
        return "built-in"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _parse_params(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            _usage(f"--param {item!r}: expected KEY=VALUE (e.g. --param n_samples=1000)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


@app.command("list")
def list_cmd() -> None:
    """Datasets: name, size, whether the files are present, description."""
    from rich.console import Console
    from rich.table import Table

    from .loaders import is_cached
    from .paths import data_dir
    from .registry import DATASETS

    t = Table(title=f"datasets (data folder: {data_dir()})")
    for col in ("name", "size", "cached", "shape", "classes"):
        t.add_column(col, no_wrap=True)
    t.add_column("description", ratio=1)  # the terminal's width: only the description wraps
    for e in DATASETS:
        t.add_row(e.name, _human(e.meta.get("size")), "yes" if is_cached(e.name) else "no",
                  "x".join(map(str, e.meta["shape"])), str(len(e.meta["classes"])), e.doc)
    Console(markup=False, emoji=False, highlight=False).print(t)


@app.command("fetch")
def fetch_cmd(name: str = typer.Argument(..., metavar="NAME", help="dataset name (see `list`)"),
              force: bool = typer.Option(False, help="download again even if present"),
              timeout: float = typer.Option(30.0, help="seconds per network operation")) -> None:
    """Download a dataset (verified) into the data folder."""
    from .download import DownloadError
    from .loaders import fetch

    e = _entry(name)
    if e.meta.get("kind") != "download":
        typer.echo(f"{e.name} is built in (nothing to download)")
        return
    try:
        folder = fetch(e.name, force=force, timeout=timeout)
    except DownloadError as err:
        _fail(str(err))
    typer.echo(f"{e.name}: files in {folder}")


@app.command("info")
def info_cmd(name: str = typer.Argument(..., metavar="NAME", help="dataset name (see `list`)"),
             figures_dir: Optional[Path] = typer.Option(None, "--figures", "--out", metavar="DIR",
                                                        help="write sample and class-count figures "
                                                             "(PNG, SVG) into DIR"),
             param: Optional[List[str]] = typer.Option(None, "--param", "-p",
                                                       help="dataset parameter KEY=VALUE"),
             download: bool = typer.Option(True, help="download when the files are missing"),
             n: int = typer.Option(25, "--samples", "--n", min=1,
                                   help="number of samples in the figure's grid")) -> None:
    """Shapes and class counts per split; with --figures DIR, sample and class-count figures too."""
    import numpy as np

    from .download import DownloadError
    from .loaders import load_raw
    from .paths import dataset_dir

    e = _entry(name)
    params = _parse_params(param)
    folder = dataset_dir(e.name)
    created = [p for p in (folder, folder.parent) if not p.exists()]  # folders a failed download may create
    try:
        ds = load_raw(e.name, download=download, **params)
    except UserError as err:  # not any ValueError: a bug in a loader is shown as the bug it is
        _usage(str(err).splitlines()[0])
    except (DownloadError, FileNotFoundError) as err:
        _remove_if_empty(created)
        _usage(str(err))  # exit 2, as ``sweeplab run`` does for missing data
    typer.echo(f"{e.name}: {e.doc}")
    typer.echo(f"licence: {e.meta.get('licence')}; citation: {e.meta.get('citation')}")
    for split, (x, y) in ds.splits().items():
        lab = y if y.ndim == 1 else y[:, 0]
        counts = np.bincount(lab.astype(int), minlength=len(ds.class_names or []))
        typer.echo(f"{split:5s} x {tuple(x.shape)} {x.dtype}  y {tuple(y.shape)} {y.dtype}  "
                   f"x range {x.min()}..{x.max()}")
        names = ds.class_names or [str(i) for i in range(len(counts))]
        what = "hour counts" if ds.name == "clocks" else "class counts"
        typer.echo(f"      {what}: " + ", ".join(f"{names[i]}={c}" for i, c in enumerate(counts)))
    if figures_dir is None:
        return
    try:
        written = _write_figures(ds, e.name, Path(figures_dir), n)
    except OSError as err:
        _fail(f"{err.filename or figures_dir}: cannot write: {err.strerror or err}")
    for p in written:
        typer.echo(f"wrote {p}")


def _write_figures(ds, name: str, out: Path, n: int) -> list[Path]:
    from . import figures

    written = []
    x, y = ds.x_train, ds.y_train
    if ds.name == "synthetic2d":
        fig = figures.scatter2d(x, y, title=ds.description)
        written += figures.save(fig, out / f"{name}_scatter")
    elif ds.name == "clocks":
        written += figures.save(figures.clock_grid(x, y, n=n), out / f"{name}_samples")
    else:
        fig = figures.sample_grid(x, y, n=n, class_names=ds.class_names, title=name)
        written += figures.save(fig, out / f"{name}_samples")
    written += figures.save(figures.class_distribution(ds), out / f"{name}_classes")
    return written


def _remove_if_empty(created: list[Path]) -> None:
    """A failed download leaves no empty folder behind (only those it created, innermost first)."""
    for folder in created:
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass
