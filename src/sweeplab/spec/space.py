"""A search space: the ``[sweep]`` axes of a random or TPE study, each a distribution.

An axis is written in ``[sweep]`` either as today's list of values (under a search
strategy: a categorical choice among them) or as one distribution table::

    "train.learning_rate" = { loguniform = [1e-4, 1e-1] }
    "model.mlp.dropout"   = { uniform = [0.0, 0.5] }
    "model.mlp.units"     = { int = [16, 1024], log = true }
    "train.optimizer"     = { choice = ["adam", "sgd"] }

Parsing is plain Python (no Optuna): the study file is validated before anything
heavy is imported; :mod:`sweeplab.engine.search` turns each :class:`Axis` into
an Optuna distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from sweeplab.spec.errors import StudyError, short_repr

Kind = Literal["loguniform", "uniform", "int", "choice"]
KINDS: tuple[str, ...] = ("loguniform", "uniform", "int", "choice")
#: each form of an axis and what it samples (the reference page's table)
DISTRIBUTIONS = (
    ("{ loguniform = [low, high] }", "a float, uniform in log(value): low > 0"),
    ("{ uniform = [low, high] }", "a float, uniform"),
    ("{ int = [low, high] }", "an integer, uniform; `log = true`: uniform in log(value), low > 0"),
    ("{ choice = [values] }", "one of the values (any values the field accepts)"),
    ("[values]", "the same as { choice = [values] }"),
)
_FORMS = ('{ loguniform = [low, high] }, { uniform = [low, high] }, { int = [low, high], log = true|false }, '
          '{ choice = [values] } or a list of values')


@dataclass(frozen=True)
class Axis:
    """One searched field: a dotted path and its distribution.

    Attributes:
        path: the swept field, e.g. ``"train.learning_rate"``.
        kind: ``loguniform``/``uniform`` (floats), ``int``, or ``choice``.
        low, high: the bounds (inclusive) of a numeric axis.
        log: sample on a log scale (``loguniform``; ``int`` with ``log = true``).
        choices: the values of a ``choice`` axis.
    """

    path: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()


def is_distribution(value: Any) -> bool:
    """Whether a ``[sweep]`` value is a distribution table (not a list of values)."""
    return isinstance(value, dict)


def parse_axis(path: str, value: Any, source: str) -> Axis:
    """One ``[sweep]`` entry as an :class:`Axis` (a list is a ``choice``).

    Raises:
        StudyError: one line naming the field, the value and the accepted forms.
    """
    field = f"field 'sweep.\"{path}\"'"
    if isinstance(value, list):
        return _choice(path, value, source, field)
    if not isinstance(value, dict):
        raise StudyError(f"{source}: {field}: {short_repr(value)}: accepted: {_FORMS}")
    kinds = [k for k in value if k in KINDS]
    extra = [k for k in value if k not in KINDS and k != "log"]
    if len(kinds) != 1 or extra:
        raise StudyError(f"{source}: {field}: {short_repr(value)}: a distribution table has exactly one of "
                         f"{', '.join(KINDS)} (and log for int); accepted: {_FORMS}")
    kind = kinds[0]
    if kind == "choice":
        if "log" in value:
            raise StudyError(f"{source}: {field}: {short_repr(value)}: log applies to int only")
        return _choice(path, value[kind], source, field)
    bounds = value[kind]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        raise StudyError(f"{source}: {field}: {short_repr(bounds)}: {kind} needs [low, high], two numbers")
    low, high = bounds
    if not all(math.isfinite(b) for b in bounds) or not low < high:
        raise StudyError(f"{source}: {field}: {short_repr(bounds)}: {kind} needs finite bounds with low < high")
    log = value.get("log", kind == "loguniform")
    if not isinstance(log, bool) or (kind != "int" and "log" in value):
        raise StudyError(f"{source}: {field}: log = {short_repr(value.get('log'))}: accepted: log = true or "
                         "false, on an int axis only (loguniform is log already)")
    if kind == "int" and not all(isinstance(b, int) for b in bounds):
        raise StudyError(f"{source}: {field}: {short_repr(bounds)}: int needs integer bounds")
    if log and low <= 0:
        raise StudyError(f"{source}: {field}: {short_repr(bounds)}: a log-scale axis needs low > 0")
    return Axis(path, kind, low, high, log)


def _choice(path, values, source, field) -> Axis:
    if not isinstance(values, list) or not values:
        raise StudyError(f"{source}: {field}: {short_repr(values)}: choice needs a non-empty list of values")
    return Axis(path, "choice", choices=tuple(values))


def parse_space(sweep: dict[str, Any], source: str) -> tuple[Axis, ...]:
    """Every ``[sweep]`` axis of a search study (``[[sweep.zip]]`` is a grid feature: refused).

    Raises:
        StudyError: a bad axis, or ``sweep.zip`` (one line).
    """
    if "zip" in sweep:
        raise StudyError(f"{source}: field 'sweep.zip': zipped axes are a grid feature; accepted under "
                         "[search] strategy random/tpe/cmaes: one axis per field")
    return tuple(parse_axis(path, value, source) for path, value in sweep.items())


def refuse_distributions(sweep: dict[str, Any], source: str, strategy: str) -> None:
    """A grid cannot enumerate a distribution: refuse the first one, naming the field.

    Raises:
        StudyError: ``field 'sweep."x"': {...}: a distribution needs [search] strategy ...``.
    """
    for path, value in sweep.items():
        if path != "zip" and is_distribution(value):
            raise StudyError(f"{source}: field 'sweep.\"{path}\"': {short_repr(value)}: a distribution cannot "
                             f"be enumerated by strategy {strategy!r}; accepted: a list of values, or "
                             "[search] strategy = \"random\", \"tpe\" or \"cmaes\"")
