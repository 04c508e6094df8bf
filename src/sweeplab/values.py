"""One canonical form for a swept value, used by every table, figure, sort,
CLI cell and notebook lookup.

A study's sweep values come back from JSON (the store) as lists and dicts,
from pandas as tuples, from users as either. :func:`canonical` turns any of
them into one hashable value that compares equal however it arrived:

* lists and tuples become :class:`SweepList` (a tuple whose text is the list
  as the user wrote it: ``[64]``, ``[300, 100]``);
* dicts become :class:`SweepDict` (sorted items; text ``{"type": "dense"}``);
* NumPy scalars become Python numbers; other scalars stay as they are.

:func:`label` is the text shown to people, :func:`order_key` the order used
by every sort (numbers numerically, lists element by element, then text),
and :func:`same` the equality used by every lookup. Nothing here imports
NumPy or pandas at module level, so the store and the CLI can use it cheaply.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable


class _Ordered:
    """Ordering by :func:`order_key`, so pandas and ``sorted`` can sort these values."""

    __slots__ = ()

    def __lt__(self, other):
        return order_key(self) < order_key(other)

    def __le__(self, other):
        return order_key(self) <= order_key(other)

    def __gt__(self, other):
        return order_key(self) > order_key(other)

    def __ge__(self, other):
        return order_key(self) >= order_key(other)


class SweepList(_Ordered):
    """A list-valued sweep value: hashable, equal to the same list or tuple,
    printed as the list the user wrote (``[300, 100]``).

    Deliberately not a sequence (no ``__iter__``/``__len__``): pandas then
    keeps it as one scalar cell, prints it with ``str`` and never turns a
    column of them into a MultiIndex. The elements are in :attr:`items`.
    """

    __slots__ = ("items",)

    def __init__(self, items=()):
        object.__setattr__(self, "items", tuple(canonical(v) for v in items))

    def __setattr__(self, name, value):
        raise AttributeError("SweepList is immutable")

    def __repr__(self) -> str:
        return "[" + ", ".join(label(v) for v in self.items) + "]"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SweepList):
            return self.items == other.items
        if isinstance(other, (list, tuple)):
            return self.items == tuple(canonical(v) for v in other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(self.items)

    def __reduce__(self):
        return (SweepList, (self.items,))

    def to_json(self) -> list:
        return [to_plain(v) for v in self.items]


class SweepDict(_Ordered):
    """A dict-valued sweep value (a layer, an optimizer table): sorted
    ``(key, value)`` pairs in :attr:`items`, printed as compact JSON."""

    __slots__ = ("items",)

    def __init__(self, mapping=None):
        pairs = sorted((str(k), canonical(v)) for k, v in dict(mapping or {}).items())
        object.__setattr__(self, "items", tuple(pairs))

    def __setattr__(self, name, value):
        raise AttributeError("SweepDict is immutable")

    def __repr__(self) -> str:
        return json.dumps(self.to_json(), separators=(", ", ": "))

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SweepDict):
            return self.items == other.items
        if isinstance(other, dict):
            return self == SweepDict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("dict", self.items))

    def __reduce__(self):
        return (SweepDict, (dict(self.items),))

    def to_json(self) -> dict:
        return {k: to_plain(v) for k, v in self.items}

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return default


def canonical(value: Any) -> Any:
    """The canonical, hashable form of a swept value (see the module docstring)."""
    if isinstance(value, (SweepList, SweepDict)):
        return value
    if isinstance(value, (list, tuple)):
        return SweepList(value)
    if isinstance(value, dict):
        return SweepDict(value)
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return value.item()  # NumPy scalar
    return value


def to_plain(value: Any) -> Any:
    """Back to JSON-ready Python (lists and dicts), e.g. for ``best_params``."""
    if isinstance(value, (SweepList, SweepDict)):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def label(value: Any) -> str:
    """The text people see for a swept value: ``[64]``, ``0.001``, ``relu``, ``full``."""
    value = canonical(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)
    return str(value)


def order_key(value: Any) -> tuple:
    """Sort key: numbers numerically, then lists element by element (shorter
    first on a tie), then dicts, then text; ``None`` last.

    ``[16] < [64] < [256] < [300, 100]`` and ``32 < 64 < 1024 < "full"``.
    """
    value = canonical(value)
    if value is None:
        return (9,)
    if isinstance(value, bool):
        return (0, float(value))
    if _is_number(value):
        return (0, float("inf") if value != value else float(value))
    if isinstance(value, SweepList):
        return (1, tuple(order_key(v) for v in value.items))
    if isinstance(value, SweepDict):
        return (2, label(value))
    return (3, str(value))


def sort_values(values: Iterable[Any]) -> list:
    """Distinct canonical values in :func:`order_key` order."""
    seen = dict.fromkeys(canonical(v) for v in values)
    return sorted(seen, key=order_key)


def same(a: Any, b: Any) -> bool:
    """Whether two swept values are the same (lists and tuples alike; NaN equals NaN)."""
    a, b = canonical(a), canonical(b)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def is_numeric_axis(values: Iterable[Any]) -> bool:
    """True when every value is a number (an axis drawn on a numeric x axis)."""
    vals = [canonical(v) for v in values]
    return bool(vals) and all(_is_number(v) for v in vals)
