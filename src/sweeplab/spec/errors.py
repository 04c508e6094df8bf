"""Turn validation failures into one line naming the file, field, value and what is accepted.

Every message has the shape::

    study.toml: field 'train.batch_size': must be a positive integer or "full" (got 0)

Validators that know a more precise place than the field they validate (an
item of a list, a key of a table) raise :class:`FieldError` with the rest of
the path and the bad value.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

from pydantic import BaseModel, ValidationError

from sweeplab.errors import UserError


MAX_MESSAGE = 1000  # characters of one error line; longer ones are cut in the middle


class StudyError(UserError):
    """A mistake in a study file (or a CLI argument naming one); shown as one line, exit code 2.

    The message is kept to one line of at most ``MAX_MESSAGE`` characters, whatever
    the (possibly huge or multi-line) value it quotes.
    """

    def __init__(self, message: str):
        super().__init__(one_line(message))


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line (line breaks as spaces), cut in the middle beyond ``limit``."""
    text = " ".join(str(message).splitlines())
    if len(text) > limit:
        half = (limit - 5) // 2
        text = f"{text[:half]} ... {text[-half:]}"
    return text


class _ShortRepr(reprlib.Repr):
    """``repr`` that looks at only a few items of a container and never prints a huge number."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 3, 6, 6, 4
        self.maxstring, self.maxother, self.maxlong = 60, 60, 40

    def repr_int(self, x, level):
        if x.bit_length() > 128:  # str() of a huge int is slow (and refused beyond 4300 digits)
            return f"<an integer of about {int((x.bit_length() - 1) * 0.30103) + 1} digits>"
        return super().repr_int(x, level)

    def repr_bool(self, x, level):
        return repr(x)


_SHORT = _ShortRepr()


def short_repr(value: Any, limit: int = 120) -> str:
    """A bounded ``repr`` of a value from a study file (which may be huge or self-referencing)."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a repr must never fail an error message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


_UNSET = object()


class FieldError(UserError):
    """A validator error that points below the field being validated.

    Args:
        message: what is wrong and what is accepted.
        loc: path below the validated field, e.g. ``(1,)`` for its second item.
        value: the bad value, shown as ``(got ...)``; leave unset when the
            message already names it.
    """

    def __init__(self, message: str, loc: tuple = (), value: Any = _UNSET):
        super().__init__(message)
        self.loc, self.value = tuple(loc), value


# Parts of a pydantic error location that are validator or union-member names, not fields.
_TYPE_TAGS = {"int", "float", "str", "bool", "list", "dict", "tuple", "set", "none"}
# "data.task.positive: ..." - a message that starts with the field path it is about.
_PATH_PREFIX = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+|\[\d+\])+): ")


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-") or part in _TYPE_TAGS)


def _model_in(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        m = _model_in(arg)
        if m is not None:
            return m
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str] | None:
    """The accepted keys of the (nested) pydantic model at ``loc``, if it is one."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of models
        if model is None or part not in model.model_fields:
            return None
        model = _model_in(model.model_fields[part].annotation)
    return sorted(model.model_fields) if model is not None else None


def _path(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        if isinstance(p, int) and parts:
            parts[-1] += f"[{p}]"
        else:
            parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts)


def _shown(value: Any, msg: str) -> str:
    """`` (got VALUE)``, unless the message already names the value or it is a whole section."""
    if value is _UNSET or isinstance(value, dict):
        return ""
    text = short_repr(value)
    named = f"got {text}" in msg.lower() or (isinstance(value, str) and text in msg)
    if named:
        return ""
    return f" (got {text})"


def format_validation_error(err: ValidationError, *, source: str, model: type[BaseModel],
                            prefix: str = "", context: str = "") -> str:
    """One line for the first error of a pydantic ValidationError."""
    e = err.errors(include_url=False)[0]
    loc = tuple(p for p in e["loc"] if not _is_tag(p))
    value = e.get("input", _UNSET)
    cause = (e.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc += cause.loc
        value = cause.value
    field = _path(prefix, loc) or "(top level)"
    msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    m = _PATH_PREFIX.match(msg)
    if m and m.group(1).split(".")[0].split("[")[0] == field.split(".")[0].split("[")[0]:
        field, msg = m.group(1), msg[m.end():]  # the message names its own (more precise) field
    if e["type"] == "extra_forbidden":
        accepted = _fields_at(model, loc[:-1])
        acc = f"; accepted keys: {', '.join(accepted)}" if accepted else ""
        return f"{source}: unknown key {field!r}{acc}{context}"
    if e["type"] == "missing":
        return f"{source}: missing required field {field!r}{context}"
    return f"{source}: field {field!r}: {msg}{_shown(value, msg)}{context}"
