"""The analyses a report (and a notebook) can show: one table, plain data.

Each entry says what an analysis is called, whether it summarises the whole
study or one representative trial, the title of its report section and what
it needs. Validation (``[report] analyses``), the report and the notebook
read this table; the functions that build each section are registered by
:mod:`sweeplab.report.build` (``BUILDERS``), and a test checks that the two
tables name the same analyses.

This module imports nothing heavy, so validating a study file does not load
the report (matplotlib, jinja2).

Example:
    >>> ANALYSES.names()[:3]
    ['best', 'tables', 'top']
    >>> ANALYSES.get("heatmap").needs
    'two sweep axes'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterator, Literal

Level = Literal["study", "trial"]


@dataclass(frozen=True)
class Analysis:
    """One analysis of a report.

    Args:
        name: the name a study file writes in ``[report] analyses``.
        level: ``"study"`` (all seeds of all configurations) or ``"trial"``
            (one representative trial: the first seed of the best configuration).
        title: title of its report section.
        needs: what it needs, completing "needs ..." in a note when it cannot
            be made ("" when it can always be made).
        min_axes: sweep axes it needs (study level).
        runs: the runs it applies to: ``"any"``, ``"grid"`` (a table per sweep value) or
            ``"search"`` (a random or TPE search: ``[search] strategy``).
    """

    name: str
    level: Level
    title: str
    needs: str = ""
    min_axes: int = 0
    runs: Literal["any", "grid", "search"] = "any"


class AnalysisTable:
    """The analyses in the order a default report shows them."""

    kind = "analysis"

    def __init__(self, entries: tuple[Analysis, ...]):
        self._entries = {a.name: a for a in entries}
        if len(self._entries) != len(entries):
            raise ValueError("an analysis is declared twice")

    def names(self, level: Level | None = None) -> list[str]:
        return [a.name for a in self if level is None or a.level == level]

    def get(self, name: str) -> Analysis:
        """The entry ``name``; raises ValueError naming the accepted analyses."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown analysis {name!r}{hint}; accepted: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Analysis]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


ANALYSES = AnalysisTable((
    Analysis("best", "study", "Best configuration"),
    Analysis("tables", "study", "Results per sweep value", "a sweep axis", min_axes=1, runs="grid"),
    Analysis("top", "study", "Configurations"),
    Analysis("comparison", "study", "Is the best configuration really better?"),
    Analysis("curves", "study", "Learning curves", runs="grid"),
    Analysis("effects", "study", "Effect of each sweep axis", "a sweep axis", min_axes=1, runs="grid"),
    Analysis("heatmap", "study", "Grid of two axes", "two sweep axes", min_axes=2, runs="grid"),
    Analysis("search_history", "study", "Optimisation history", "a search run ([search] strategy random, tpe or cmaes)",
             runs="search"),
    Analysis("importance", "study", "Parameter importance", "a search run ([search] strategy random, tpe or cmaes)",
             runs="search"),
    Analysis("slices", "study", "Slice plots of the most important parameters",
             "a search run ([search] strategy random, tpe or cmaes)", runs="search"),
    Analysis("contour", "study", "Contour of the two most important parameters",
             "a search run over two or more parameters", min_axes=2, runs="search"),
    Analysis("history", "trial", "Learning curves of the best trial"),
    Analysis("model", "trial", "Model", "saved parameters"),
    Analysis("confusion", "trial", "Confusion matrix", "a classification head"),
    Analysis("f1", "trial", "Precision, recall and F1", "a classification head"),
    Analysis("pr_curve", "trial", "Precision-recall curve", "a binary classification head"),
    Analysis("misclassified", "trial", "Misclassified examples", "a classification head and image data"),
    Analysis("regression", "trial", "Regression outputs", "a regression head"),
    Analysis("gradients", "trial", "Gradient flow", "recorded gradient norms (train.gradient_norms = true)"),
    Analysis("filters", "trial", "Convolution filters", "a convolution layer"),
    Analysis("feature_maps", "trial", "Feature maps", "a convolution layer and image data"),
    Analysis("regions", "trial", "Decision regions", "2-D input data"),
))

__all__ = ["ANALYSES", "Analysis", "AnalysisTable"]
