"""A registry is a named table of one kind of vocabulary (activations, optimizers, ...).

Validation, ``sweeplab list vocab``, the generated docs reference and the
"accepted values" part of every error message are all produced from these
tables, so a name exists in sweeplab exactly when it is in its registry.

Example:
    >>> ACTS = Registry("activation")
    >>> ACTS.add(Entry("relu", jax.nn.relu, doc="max(x, 0)"))
    >>> ACTS.get("relu").obj
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterator

from sweeplab.errors import UserError


class UnknownNameError(UserError):
    """A name that is not in a registry; the message lists the accepted names."""

    def __init__(self, kind: str, name: object, accepted: list[str]):
        self.kind, self.name, self.accepted = kind, name, accepted
        close = difflib.get_close_matches(str(name), accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(
            f"unknown {kind} {name!r}{hint}; accepted: {', '.join(accepted)}"
        )


@dataclass(frozen=True)
class Param:
    """One accepted parameter of a registry entry.

    Args:
        name: parameter name as written in a study file.
        default: the default value (Keras's default where Keras has one).
        doc: one-line description, shown in the generated reference.
        per_trial: True when the value may differ between trials that train
            together in one compiled group (it becomes an array under vmap).
        check: the value constraint, a :class:`sweeplab.vocab.params.Constraint`
            (``Interval``, ``OneOf``, ``Pair``, ``Name``, ``Check``); None: the
            default's type only. Validated by :func:`sweeplab.vocab.params.check_params`.
    """

    name: str
    default: Any
    doc: str = ""
    per_trial: bool = False
    check: Any = None


@dataclass(frozen=True)
class Entry:
    """One named item of a registry.

    Args:
        name: canonical name (Keras's name where Keras has one).
        obj: the function, constructor or object the name stands for.
        doc: one-line description for the docs table.
        params: accepted parameters with defaults.
        aliases: other accepted spellings.
        meta: free-form facts other modules need (e.g. ``{"range": (0, 1)}``).
    """

    name: str
    obj: Any
    doc: str = ""
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param_names(self) -> list[str]:
        return [p.name for p in self.params]


class Registry:
    """A table ``name -> Entry`` of one kind of vocabulary."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def add(self, entry: Entry) -> Entry:
        if entry.name in self._entries or entry.name in self._aliases:
            raise ValueError(f"{self.kind} {entry.name!r} registered twice")
        for old in ("checks", "choices"):  # one constraint system: Param(check=...)
            if old in entry.meta:
                raise ValueError(f"{self.kind} {entry.name!r}: meta[{old!r}] is gone; "
                                 "declare the constraint as Param(..., check=...)")
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name
        return entry

    def register(self, name: str, doc: str = "", params: tuple[Param, ...] = (),
                 aliases: tuple[str, ...] = (), **meta):
        """Decorator form of :meth:`add`."""

        def deco(obj):
            self.add(Entry(name, obj, doc, tuple(params), tuple(aliases), dict(meta)))
            return obj

        return deco

    def canonical(self, name: str) -> str:
        """The canonical spelling of ``name``; raises UnknownNameError."""
        if not isinstance(name, str):
            raise UnknownNameError(self.kind, name, self.names())
        key = name.strip().lower()
        if key in self._entries:
            return key
        if key in self._aliases:
            return self._aliases[key]
        raise UnknownNameError(self.kind, name, self.names())

    def get(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        try:
            self.canonical(name)  # type: ignore[arg-type]
            return True
        except UnknownNameError:
            return False

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
