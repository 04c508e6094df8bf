"""Parameter validation shared by every registry (optimizers, initializers, ...).

A registry entry lists its accepted :class:`~sweeplab.vocab.registry.Param` s;
value constraints live in ``entry.meta["checks"]`` as :class:`Check` objects
keyed by parameter name. :func:`check_params` is the one function the study
validator calls, before anything is compiled, so that a bad study fails with a
one-line message instead of a traceback from inside ``jax.jit``.

Messages follow scikit-learn's wording, e.g.::

    The 'learning_rate' parameter of adam must be > 0. Got -1 instead.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sweeplab.errors import UserError
from sweeplab.vocab.registry import Entry, Registry


class InvalidParamError(UserError):
    """A parameter that an entry does not accept, or a value it rejects."""

    def __init__(self, message: str, entry: str, param: str, accepted: list[str]):
        self.entry, self.param, self.accepted = entry, param, accepted
        super().__init__(message)


@dataclass(frozen=True)
class Check:
    """A value constraint: ``desc`` completes "must be ..." in the message."""

    desc: str
    fn: Callable[[Any], bool]

    def __call__(self, value: Any) -> bool:
        return bool(self.fn(value))


def gt(bound: float) -> Check:
    return Check(f"> {bound:g}", lambda v: v > bound)


def ge(bound: float) -> Check:
    return Check(f">= {bound:g}", lambda v: v >= bound)


def le(bound: float) -> Check:
    return Check(f"<= {bound:g}", lambda v: v <= bound)


def between(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Check:
    """lo <= v <= hi, with either end optionally open."""
    left, right = ("(" if lo_open else "["), (")" if hi_open else "]")

    def fn(v):
        ok_lo = v > lo if lo_open else v >= lo
        ok_hi = v < hi if hi_open else v <= hi
        return ok_lo and ok_hi

    return Check(f"in the range {left}{lo:g}, {hi:g}{right}", fn)


def one_of(*values: str) -> Check:
    return Check("one of " + ", ".join(repr(v) for v in values), lambda v: v in values)


POSITIVE = gt(0)
NON_NEGATIVE = ge(0)
UNIT = between(0, 1)            # [0, 1]: momentum, rho, betas
UNIT_OPEN_RIGHT = between(0, 1, hi_open=True)


def _is_real(v: Any) -> bool:
    # bool is an int subclass; ``momentum = true`` in a study is a typo, not 1.0.
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _fail(kind: str, entry: Entry, pname: str, must: str, value: Any) -> InvalidParamError:
    # ``kind`` is kept out of the sentence on purpose: the sklearn-style message
    # names the entry ("of adam"), which is what a study author wrote.
    del kind
    return InvalidParamError(
        f"The {pname!r} parameter of {entry.name} must be {must}. Got {value!r} instead.",
        entry.name, pname, entry.param_names(),
    )


def check_value(entry: Entry, pname: str, value: Any, kind: str = "") -> Any:
    """Validate one value of parameter ``pname`` of ``entry``; return it normalised.

    Floats are returned as ``float`` (so ``1`` becomes ``1.0``), booleans and
    strings unchanged. Raises InvalidParamError with a one-line message.
    """
    default = entry.defaults()[pname]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(kind, entry, pname, "a boolean (true or false)", value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise _fail(kind, entry, pname, "a string", value)
        value = value.strip().lower()
    elif isinstance(default, numbers.Real):
        if not _is_real(value) or not math.isfinite(float(value)):
            raise _fail(kind, entry, pname, "a finite number", value)
        value = float(value)
    check = entry.meta.get("checks", {}).get(pname)
    if check is not None and not check(value):
        raise _fail(kind, entry, pname, check.desc, _plain(value))
    return value


def _plain(v: Any) -> Any:
    # Report -1.0 as -1, as the user most likely wrote it.
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


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
    entry = registry.get(name)
    accepted = entry.param_names()
    out = entry.defaults()
    for pname, value in dict(params or {}).items():
        if pname not in out:
            shown = ", ".join(accepted) if accepted else "(none)"
            raise InvalidParamError(
                f"unknown parameter {pname!r} for {registry.kind} {entry.name!r}; "
                f"accepted: {shown}",
                entry.name, pname, accepted,
            )
        out[pname] = check_value(entry, pname, value, registry.kind)
    # Cross-parameter constraints (e.g. random_uniform minval < maxval).
    for cross in entry.meta.get("cross_checks", ()):
        message = cross(out)
        if message:
            raise InvalidParamError(f"Invalid parameters of {entry.name}: {message}",
                                    entry.name, "", accepted)
    return out
