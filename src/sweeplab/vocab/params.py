"""Parameter constraints as data, shared by every parameter table.

Optimizers, initializers, activations, losses, layers and datasets declare
their parameters as :class:`~sweeplab.vocab.registry.Param` s; a Param's
``check`` is one of the constraints below (scikit-learn's
``_parameter_constraints`` habit). :func:`check_params` is the one function
that validates them, before anything is compiled, so that a bad study fails
with a one-line message instead of a traceback from inside ``jax.jit``.

One type rule, decided by the constraint (or, without one, by the default):

- a boolean accepts only ``true``/``false`` (``1`` is a typo, not ``true``);
- an integer accepts an int or an integral float (``8.0`` -> ``8``), never a bool;
- a number accepts any finite int or float (``1`` -> ``1.0``), never a bool;
- a string is stripped and lower-cased (names are case-insensitive).

One message wording (scikit-learn's), naming the parameter, its owner, what
is accepted and the value received::

    The 'learning_rate' parameter of adam must be > 0. Got -1 instead.

Each constraint also lists values it rejects (:meth:`Interval.invalid` ...),
so a test can try an invalid value for every parameter of every registry.
"""

from __future__ import annotations

import importlib
import math
import numbers
import reprlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sweeplab.errors import UserError
from sweeplab.vocab.registry import Entry, Registry, UnknownNameError


class InvalidParamError(UserError):
    """A parameter that an entry does not accept, or a value it rejects."""

    def __init__(self, message: str, entry: str, param: str, accepted: list[str]):
        self.entry, self.param, self.accepted = entry, param, accepted
        super().__init__(message)


class _Reject(Exception):
    """Raised by a constraint: ``must`` completes "must be ..."."""

    def __init__(self, must: str):
        super().__init__(must)
        self.must = must


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        x = int(x)
    return str(x) if isinstance(x, int) else f"{x:g}"


def _is_real(v: Any) -> bool:
    # bool is an int subclass; ``momentum = true`` in a study is a typo, not 1.0.
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _finite(value: Any) -> bool:
    """A real number that is a finite float (an integer too large for a float is not: 10**400)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _as_type(kind: type | None, value: Any) -> Any:
    """The one type rule (see the module docstring); raises _Reject."""
    if kind is bool:
        if not isinstance(value, bool):
            raise _Reject("a boolean (true or false)")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise _Reject("a string")
        return value.strip().lower()
    if kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if _is_real(value) and _finite(value) and float(value).is_integer():
            return int(value)
        raise _Reject("an integer")
    if kind is float:
        if not _is_real(value) or not _finite(value):
            raise _Reject("a finite number")
        return float(value)
    return value


def _type_of(default: Any) -> type | None:
    for t in (bool, str, int, float):
        if isinstance(default, t):
            return t
    return None


class Constraint:
    """A value constraint. ``type`` (bool, int, float, str or None) selects the
    type rule; ``convert`` returns the normalised value or raises _Reject."""

    # Every constraint has ``type`` and ``desc`` (fields or properties); no class
    # defaults here, or dataclass fields of subclasses would inherit them.

    def convert(self, value: Any) -> Any:
        raise NotImplementedError

    def invalid(self) -> list[Any]:
        """Values this constraint rejects (for generated tests)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A number in an interval: ``Interval(float, 0, None, closed="neither")`` is > 0.

    Args:
        type: ``int`` or ``float`` (the type rule applied first).
        left, right: bounds; None is unbounded.
        closed: which bounds belong to the interval: "both", "left", "right", "neither".
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def __post_init__(self):
        if self.closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval: closed={self.closed!r}; accepted: both, left, right, neither")

    @property
    def _lo_closed(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def _hi_closed(self) -> bool:
        return self.closed in ("both", "right")

    @property
    def desc(self) -> str:  # type: ignore[override]
        lo, hi = self.left, self.right
        if lo is not None and hi is not None:
            left, right = ("[" if self._lo_closed else "("), ("]" if self._hi_closed else ")")
            return f"in the range {left}{_num(lo)}, {_num(hi)}{right}"
        if lo is not None:
            return f"{'>=' if self._lo_closed else '>'} {_num(lo)}"
        if hi is not None:
            return f"{'<=' if self._hi_closed else '<'} {_num(hi)}"
        return "a finite number" if self.type is float else "an integer"

    def convert(self, value: Any) -> Any:
        v = _as_type(self.type, value)
        ok_lo = self.left is None or (v >= self.left if self._lo_closed else v > self.left)
        ok_hi = self.right is None or (v <= self.right if self._hi_closed else v < self.right)
        if not (ok_lo and ok_hi):
            raise _Reject(self.desc)
        return v

    def invalid(self) -> list[Any]:
        step = 1 if self.type is int else 0.5
        out: list[Any] = ["x", True]
        if self.left is not None:
            out.append(self.left if not self._lo_closed else self.left - step)
        if self.right is not None:
            out.append(self.right if not self._hi_closed else self.right + step)
        if self.type is int:
            out.append((self.left or 0) + 0.5)
        else:
            out.append(float("nan"))
        return out


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of strings (compared lower-cased)."""

    values: tuple[str, ...]
    type: type = str

    def __init__(self, *values: str):
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "type", str)

    @property
    def desc(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(repr(v) for v in self.values)

    def convert(self, value: Any) -> Any:
        v = _as_type(str, value) if isinstance(value, str) else value
        if v not in self.values:
            raise _Reject(self.desc)
        return v

    def invalid(self) -> list[Any]:
        return ["no_such_value", 3]


@dataclass(frozen=True)
class Pair(Constraint):
    """A positive integer or a pair ``[h, w]`` of them, normalised to a tuple
    (kernel sizes, strides). ``none_ok``: None (not given) is accepted as is."""

    none_ok: bool = False
    type: type | None = None

    @property
    def desc(self) -> str:  # type: ignore[override]
        return "a positive integer or a pair of them"

    def convert(self, value: Any) -> Any:
        if value is None and self.none_ok:
            return None
        items = list(value) if isinstance(value, (list, tuple)) else [value, value]
        if len(items) != 2 or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 1
                                      for i in items):
            raise _Reject(self.desc)
        return int(items[0]), int(items[1])

    def invalid(self) -> list[Any]:
        return [0, [1, 2, 3], [2, 0], "3", 2.5, True]


@dataclass(frozen=True)
class Name(Constraint):
    """A name in another registry (an activation, an initializer), canonicalised.

    ``none``: the name that None (YAML ``null``) stands for, if any.
    """

    kind: str
    none: str | None = None
    type: type | None = None

    def _registry(self) -> Registry:
        return importlib.import_module("sweeplab.vocab").REGISTRIES[self.kind]

    @property
    def desc(self) -> str:  # type: ignore[override]
        return f"a known {self.kind}"  # a rejected value's message lists the names

    def convert(self, value: Any) -> Any:
        if value is None and self.none is not None:
            value = self.none
        try:
            return self._registry().canonical(value)
        except UnknownNameError as e:
            hint = str(e).split("; accepted:")[0].partition(")")[0].partition("(")[2]
            raise _Reject(f"a known {self.kind}{f' ({hint})' if hint else ''}: "
                          + ", ".join(e.accepted)) from None

    def invalid(self) -> list[Any]:
        return ["no_such_name", 3]


@dataclass(frozen=True)
class Check(Constraint):
    """A free-form constraint: ``desc`` completes "must be ...", ``fn`` says yes or no.
    ``type`` is the type rule applied first (None: the default's type)."""

    desc: str  # type: ignore[misc]
    fn: Callable[[Any], bool]
    type: type | None = None
    bad: tuple = ()

    def __call__(self, value: Any) -> bool:
        return bool(self.fn(value))

    def convert(self, value: Any) -> Any:
        if not self.fn(value):
            raise _Reject(self.desc)
        return value

    def invalid(self) -> list[Any]:
        return list(self.bad)


# The constraints the tables use most.
POSITIVE = Interval(float, 0, None, closed="neither")
NON_NEGATIVE = Interval(float, 0, None)
UNIT = Interval(float, 0, 1)                                  # [0, 1]: momentum, rho
UNIT_OPEN_RIGHT = Interval(float, 0, 1, closed="left")        # [0, 1): betas, dropout rate
POSITIVE_INT = Interval(int, 1, None)


def gt(bound: float) -> Interval:
    return Interval(float, bound, None, closed="neither")


def ge(bound: float) -> Interval:
    return Interval(float, bound, None)


def le(bound: float) -> Interval:
    return Interval(float, None, bound)


def between(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Interval:
    """lo <= v <= hi, with either end optionally open."""
    closed = {(False, False): "both", (False, True): "left", (True, False): "right", (True, True): "neither"}
    return Interval(float, lo, hi, closed=closed[(lo_open, hi_open)])


def one_of(*values: str) -> OneOf:
    return OneOf(*values)


def _plain(v: Any) -> Any:
    # Report -1.0 as -1, as the user most likely wrote it.
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxlong, _REPR.maxother = 60, 40, 60


def _shown(v: Any) -> str:
    """A bounded repr of a received value (a study file may hold a 5000-digit integer)."""
    v = _plain(v)
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 128:
        return f"<an integer of about {int((v.bit_length() - 1) * 0.30103) + 1} digits>"
    return _REPR.repr(v)


def _fail(entry: Entry, pname: str, must: str, value: Any) -> InvalidParamError:
    return InvalidParamError(
        f"The {pname!r} parameter of {entry.name} must be {must}. Got {_shown(value)} instead.",
        entry.name, pname, entry.param_names(),
    )


def check_value(entry: Entry, pname: str, value: Any) -> Any:
    """Validate one value of parameter ``pname`` of ``entry``; return it normalised.

    The type rule comes from the parameter's constraint (or its default), then
    the constraint itself. Raises InvalidParamError with a one-line message.
    """
    param = next(p for p in entry.params if p.name == pname)
    check: Constraint | None = param.check
    kind_of = check.type if check is not None and check.type is not None else _type_of(param.default)
    try:
        if not isinstance(check, (Interval, Pair, Name)):  # these apply the type rule themselves
            value = _as_type(kind_of, value)
        if check is not None:
            value = check.convert(value)
    except _Reject as r:
        raise _fail(entry, pname, r.must, value) from None
    return value


def check_entry(entry: Entry, params: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    """Validate ``params`` for ``entry`` and fill in defaults (see :func:`check_params`)."""
    accepted = entry.param_names()
    out = entry.defaults()
    given = dict(params or {})
    for pname, value in given.items():
        if pname not in out:
            shown = ", ".join(accepted) if accepted else "(none)"
            raise InvalidParamError(
                f"unknown parameter {pname!r} for {kind} {entry.name!r}; accepted: {shown}",
                entry.name, pname, accepted,
            )
        out[pname] = check_value(entry, pname, value)
    # A parameter without a usable default (None) must be given, unless its constraint accepts None.
    for p in entry.params:
        if p.name not in given and p.default is None and p.check is not None:
            out[p.name] = check_value(entry, p.name, None)
        elif p.name not in given and isinstance(p.check, (Pair, Name)):
            out[p.name] = p.check.convert(p.default)  # normalised like a given value
    # Cross-parameter constraints (e.g. random_uniform minval < maxval).
    for cross in entry.meta.get("cross_checks", ()):
        message = cross(out)
        if message:
            raise InvalidParamError(f"Invalid parameters of {entry.name}: {message}",
                                    entry.name, "", accepted)
    return out


def check_params(registry: Registry, name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``params`` for entry ``name`` of ``registry`` and fill in defaults.

    Args:
        registry: e.g. ``OPTIMIZERS``.
        name: entry name or alias (case-insensitive).
        params: user-given parameters; may be None or empty.

    Returns:
        A dict with every accepted parameter: the defaults updated with the
        normalised user values.

    Raises:
        UnknownNameError: ``name`` is not in the registry (lists accepted names).
        InvalidParamError: an unknown parameter (lists accepted parameters) or a
            rejected value (one line, sklearn wording).
    """
    return check_entry(registry.get(name), params, registry.kind)


__all__ = ["Check", "Constraint", "Interval", "InvalidParamError", "Name", "NON_NEGATIVE", "OneOf", "Pair",
           "POSITIVE", "POSITIVE_INT", "UNIT", "UNIT_OPEN_RIGHT", "between", "check_entry", "check_params",
           "check_value", "ge", "gt", "le", "one_of"]
