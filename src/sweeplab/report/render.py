"""Write a built report: figures (PNG + SVG), tables (CSV + booktabs LaTeX),
``report.md`` and one self-contained ``report.html``.

HTML goes through Jinja2 with autoescape on, so every user-supplied string
(study name, axis values, class names) is escaped; figures are embedded as
base64 PNG, so the file works offline and alone.
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
_MD_RE = re.compile(r"([\\`*_\[\]<>#|])")


def latex_escape(text) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], str(text))


def md_escape(text) -> str:
    """Backslash-escape Markdown punctuation, so user text is never markup or HTML."""
    return _MD_RE.sub(r"\\\1", str(text)).replace("\n", " ")


def to_latex(item: TableItem) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    df = item.display
    cols = "l" * len(df.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(item.caption)}}}",
             rf"\label{{tab:{item.name}}}", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(md_escape(c) or " " for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(md_escape(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def _atomic_write(path: Path, data: bytes | str) -> None:
    data = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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


def render_figures(report: Report, fig_dir: Path) -> None:
    """PNG + SVG of each figure; the figure is released afterwards."""
    for sec in report.sections:
        for it in sec.items:
            if isinstance(it, FigureItem) and it.figure is not None:
                it.png = style.to_png(it.figure)
                # The PNG pass fixed the layout; reusing it halves the SVG's cost.
                it.figure.set_layout_engine("none")
                it.svg = style.to_svg(it.figure)
                _atomic_write(fig_dir / f"{it.name}.png", it.png)
                _atomic_write(fig_dir / f"{it.name}.svg", it.svg)
                it.figure.clear()
                it.figure = None


def write_tables(report: Report, table_dir: Path) -> None:
    for sec in report.sections:
        for it in sec.items:
            if isinstance(it, TableItem):
                _atomic_write(table_dir / f"{it.name}.csv", it.data.to_csv(index=False))
                _atomic_write(table_dir / f"{it.name}.tex", to_latex(it))


def _env() -> Environment:
    env = Environment(loader=PackageLoader("sweeplab.report", "templates"),
                      autoescape=select_autoescape(["html", "html.j2"], ["md.j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["b64"] = lambda b: base64.b64encode(b).decode("ascii")
    env.filters["md"] = md_escape
    env.filters["mdtable"] = to_markdown
    env.globals.update(FigureItem=FigureItem, TableItem=TableItem, TextItem=TextItem)
    env.tests["figure"] = lambda x: isinstance(x, FigureItem)
    env.tests["table"] = lambda x: isinstance(x, TableItem)
    env.tests["text"] = lambda x: isinstance(x, TextItem)
    return env


def write_all(report: Report, run_dir: Path) -> Path:
    """Write figures/, tables/, report.md and report.html into ``run_dir``."""
    fig_dir, table_dir = run_dir / "figures", run_dir / "tables"
    fig_dir.mkdir(parents=True, exist_ok=True)
    table_dir.mkdir(parents=True, exist_ok=True)
    _unique_names(report)
    render_figures(report, fig_dir)
    write_tables(report, table_dir)
    env = _env()
    from sweeplab import __version__

    ctx = {"r": report, "version": __version__,
           "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    _atomic_write(run_dir / "report.md", env.get_template("report.md.j2").render(**ctx))
    html = run_dir / "report.html"
    _atomic_write(html, env.get_template("report.html.j2").render(**ctx))
    return html
