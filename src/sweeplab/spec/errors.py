"""Turn validation failures into one line naming the file, field, value and what is accepted."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


class StudyError(ValueError):
    """A mistake in a study file (or a CLI argument naming one); shown as one line, exit code 2."""


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str] | None:
    """The accepted keys of the (nested) pydantic model at ``loc``, if it is one."""
    for part in loc:
        if model is None or not isinstance(part, str) or part not in getattr(model, "model_fields", {}):
            return None
        ann = model.model_fields[part].annotation
        model = _model_in(ann)
    return sorted(model.model_fields) if model is not None else None


def _model_in(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        m = _model_in(arg)
        if m is not None:
            return m
    return None


def _path(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        elif p in ("function-after", "function-before") or "[" in str(p) and "]" in str(p):
            continue  # pydantic's internal validator step names
        else:
            parts.append(str(p))
    return ".".join(parts)


def format_validation_error(err: ValidationError, *, source: str, model: type[BaseModel],
                            prefix: str = "", context: str = "") -> str:
    """One line for the first error of a pydantic ValidationError."""
    e = err.errors(include_url=False)[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    field = _path(prefix, loc) or "(top level)"
    msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if e["type"] == "extra_forbidden":
        accepted = _fields_at(model, loc[:-1])
        acc = f"; accepted keys: {', '.join(accepted)}" if accepted else ""
        return f"{source}: unknown key {field!r}{acc}{context}"
    if e["type"] == "missing":
        return f"{source}: missing required field {field!r}{context}"
    value = e.get("input")
    shown = repr(value) if not isinstance(value, dict) or len(repr(value)) < 80 else "{...}"
    return f"{source}: field {field!r}: {msg} (got {shown}){context}"
