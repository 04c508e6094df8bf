"""What a report is made of: sections holding text, tables and figures.

The builder (:mod:`sweeplab.report.build`) fills these; the writers
(:mod:`sweeplab.report.render`) turn them into HTML, Markdown, CSV and LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class FigureItem:
    name: str  # file stem under figures/
    caption: str
    figure: Any  # matplotlib Figure (closed after writing)
    png: bytes = b""
    svg: bytes = b""


@dataclass
class TableItem:
    name: str  # file stem under tables/
    caption: str
    display: pd.DataFrame  # formatted strings, shown in HTML/Markdown/LaTeX
    data: pd.DataFrame  # raw numbers, written to CSV
    highlight: list[int] = field(default_factory=list)  # display rows to mark (best)
    note: str = ""


@dataclass
class TextItem:
    text: str
    kind: str = "p"  # "p", "note" (skipped analysis), "lead" (best configuration)


@dataclass
class Section:
    key: str
    title: str
    items: list = field(default_factory=list)


@dataclass
class Report:
    name: str
    description: str
    facts: list[tuple[str, str]]
    sections: list[Section]
