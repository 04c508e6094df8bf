"""Write a built report: figures (PNG, and SVG when asked), tables (CSV +
booktabs LaTeX), ``report.md`` and one self-contained ``report.html``.

HTML goes through Jinja2 with autoescape on, so every user-supplied string
(study name, axis values, class names) is escaped; figures are embedded as
base64 PNG, so the file works offline and alone. Every table cell shown to a
person goes through :func:`cell` (no ``<NA>``/``nan``; lists as ``[64]``);
CSV cells that a spreadsheet would run as a formula are neutralised
(:func:`csv_safe`); Markdown escapes ``$`` so GitHub renders no math. Files
are written atomically with the permissions the user's umask gives.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from sweeplab.report import style
from sweeplab.report.model import FigureItem, Report, TableItem, TextItem

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "★": r"$\star$", "±": r"$\pm$", "≈": r"$\approx$", "–": "--", "→": r"$\to$", "×": r"$\times$"}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))
_MD_RE = re.compile(r"([\\`*_\[\]<>#|$~])")
MISSING = "—"
_MISSING_TEXT = {"", "<NA>", "nan", "NaN", "NaT"}
_PM_MISSING = re.compile(r"\s*±\s*(?:<NA>|nan|NaN)(?![\w.])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """The text of one displayed table cell: missing values are ``—``, a
    ``± <NA>`` spread is dropped, list values read ``[64]``."""
    if value is None:
        return MISSING
    if isinstance(value, (list, tuple)):
        from sweeplab.values import label

        return label(value)
    if isinstance(value, float) and value != value:
        return MISSING
    try:
        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    text = _PM_MISSING.sub("", str(value))
    return MISSING if text.strip() in _MISSING_TEXT and str(value).strip() != "" else text


def _is_number_text(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def csv_safe_text(value):
    """A CSV cell a spreadsheet will not run as a formula (OWASP: prefix ``'``).

    Strings starting with ``= + - @``, a tab or a carriage return get a
    leading apostrophe, unless they are plain numbers (``-0.5`` stays a number).
    """
    if isinstance(value, (list, tuple)):
        from sweeplab.values import label

        value = label(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _is_number_text(value.strip()):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell and column name passed through :func:`csv_safe_text`."""
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].map(csv_safe_text)
    out.columns = [csv_safe_text(c) if isinstance(c, str) else c for c in out.columns]
    return out


def to_csv(df: pd.DataFrame) -> str:
    """RFC 4180 CSV (CRLF rows, so a CR or LF inside a cell is quoted) of :func:`csv_safe` cells."""
    return csv_safe(df).to_csv(index=False, lineterminator="\r\n")


def latex_escape(text) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], str(text))


def md_escape(text) -> str:
    """Backslash-escape Markdown punctuation, so user text is never markup or HTML."""
    return _MD_RE.sub(r"\\\1", str(text)).replace("\n", " ")


def to_latex(item: TableItem) -> str:
    """A booktabs ``table`` that never runs past the text width: a table wider
    than ``\\linewidth`` is scaled down to it (narrow ones keep their size).

    Needs ``\\usepackage{booktabs}`` and ``\\usepackage{graphicx}``.
    """
    df = item.display
    cols = "l" * len(df.columns)
    lines = [r"% needs \usepackage{booktabs} and \usepackage{graphicx}",
             r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(item.caption)}}}",
             rf"\label{{tab:{item.name}}}",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(cell(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}%", "}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(md_escape(c) or " " for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(md_escape(cell(v)) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write via a temporary file and a rename; the file gets ``0o666 & ~umask``
    (like ``open()``), not the 0600 that ``mkstemp`` creates."""
    data = data.encode() if isinstance(data, str) else data
    mode = (0o666 & ~current_umask()) if mode is None else mode
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unique_names(report: Report) -> None:
    seen: dict[tuple[str, str], int] = {}
    for sec in report.sections:
        for it in sec.items:
            if isinstance(it, (FigureItem, TableItem)):
                key = (type(it).__name__, it.name)
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > 1:
                    it.name = f"{it.name}_{seen[key]}"


def render_figures(report: Report, fig_dir: Path, *, svg: bool = False, mode: int | None = None) -> None:
    """PNG (and SVG when ``svg``) of each figure; the figure is released afterwards.

    Drawing is most of a report's time, and matplotlib holds the GIL while it
    draws, so the PNGs are drawn by forked worker processes (one per core, at
    most 4) when the platform forks and JAX is not loaded in this process
    (forking a process with XLA's threads is not safe); otherwise one by one.
    """
    items = [it for sec in report.sections for it in sec.items
             if isinstance(it, FigureItem) and it.figure is not None]
    pngs = None if svg else _draw_in_parallel([it.figure for it in items])
    for i, it in enumerate(items):
        it.png = pngs[i] if pngs is not None else style.to_png(it.figure)
        _atomic_write(fig_dir / f"{it.name}.png", it.png, mode)
        if svg:
            # The PNG pass fixed the layout; reusing it halves the SVG's cost.
            it.figure.set_layout_engine("none")
            it.svg = style.to_svg(it.figure)
            _atomic_write(fig_dir / f"{it.name}.svg", it.svg, mode)
        it.figure = None  # no clear(): dropping the reference is enough and much cheaper


_PENDING: list = []  # figures handed to forked workers (inherited, never pickled)


def _draw_one(i: int) -> bytes:
    return style.to_png(_PENDING[i])


def _worker_start() -> None:
    """A forked worker takes the default signal actions back: the parent's
    handlers only record a signal (see ``sweeplab._signals``), which would let
    a worker outlive the pool's SIGTERM."""
    import signal

    try:
        signal.set_wakeup_fd(-1)
    except ValueError:  # not the main thread
        pass
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def _draw_in_parallel(figures: list) -> list[bytes] | None:
    """PNG bytes of ``figures`` drawn by forked processes, or None when that is
    not possible or not worth it (then the caller draws them itself)."""
    import multiprocessing as mp
    import sys

    workers = min(len(figures), os.cpu_count() or 1, 4)
    if workers < 2 or "jax" in sys.modules or "fork" not in mp.get_all_start_methods():
        return None
    global _PENDING
    _PENDING = figures
    try:
        with mp.get_context("fork").Pool(workers, initializer=_worker_start) as pool:
            # Costly figures first, so the last worker does not start one alone at the end.
            order = sorted(range(len(figures)), key=lambda i: -len(figures[i].axes))
            done = dict(zip(order, pool.map(_draw_one, order, chunksize=1)))
        return [done[i] for i in range(len(figures))]
    except (OSError, RuntimeError):  # no processes to be had: draw here
        return None
    finally:
        _PENDING = []


def write_tables(report: Report, table_dir: Path, mode: int | None = None) -> None:
    for sec in report.sections:
        for it in sec.items:
            if isinstance(it, TableItem):
                _atomic_write(table_dir / f"{it.name}.csv", to_csv(it.data), mode)
                _atomic_write(table_dir / f"{it.name}.tex", to_latex(it), mode)


def _env() -> Environment:
    env = Environment(loader=PackageLoader("sweeplab.report", "templates"),
                      autoescape=select_autoescape(["html", "html.j2"], ["md.j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["b64"] = lambda b: base64.b64encode(b).decode("ascii")
    env.filters["md"] = md_escape
    env.filters["mdtable"] = to_markdown
    env.filters["cell"] = cell
    env.globals.update(FigureItem=FigureItem, TableItem=TableItem, TextItem=TextItem)
    env.tests["figure"] = lambda x: isinstance(x, FigureItem)
    env.tests["table"] = lambda x: isinstance(x, TableItem)
    env.tests["text"] = lambda x: isinstance(x, TextItem)
    return env


def _remove_stale(directory: Path, keep: set[str], suffixes: tuple[str, ...]) -> None:
    """Delete figure/table files of an earlier build that this build did not write."""
    for p in directory.iterdir():
        if p.suffix in suffixes and p.name not in keep and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)


def write_all(report: Report, run_dir: Path, *, svg: bool = False) -> Path:
    """Write figures/, tables/, report.md and report.html into ``run_dir``."""
    fig_dir, table_dir = run_dir / "figures", run_dir / "tables"
    fig_dir.mkdir(parents=True, exist_ok=True)
    table_dir.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~current_umask()
    _unique_names(report)
    render_figures(report, fig_dir, svg=svg, mode=mode)
    write_tables(report, table_dir, mode)
    items = [it for sec in report.sections for it in sec.items]
    _remove_stale(fig_dir, {f"{it.name}{ext}" for it in items if isinstance(it, FigureItem)
                            for ext in ((".png", ".svg") if svg else (".png",))}, (".png", ".svg"))
    _remove_stale(table_dir, {f"{it.name}{ext}" for it in items if isinstance(it, TableItem)
                              for ext in (".csv", ".tex")}, (".csv", ".tex"))
    env = _env()
    from sweeplab._version import __version__

    ctx = {"r": report, "version": __version__, "svg": svg,
           "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    _atomic_write(run_dir / "report.md", env.get_template("report.md.j2").render(**ctx), mode)
    html = run_dir / "report.html"
    _atomic_write(html, env.get_template("report.html.j2").render(**ctx), mode)
    return html
