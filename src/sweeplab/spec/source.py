"""Read a study file and parse it into plain data, within limits.

A study file is small, regular, UTF-8 TOML or YAML. Everything else is refused
with one line naming the file and what is wrong, before it can cost much
time or memory:

- a path that is not a regular file (a directory, a FIFO, a device such as
  ``/dev/zero``, a dangling or looping symbolic link);
- a file larger than :data:`MAX_FILE_BYTES` (checked with ``stat`` before
  reading, and again while reading);
- YAML duplicate keys (TOML refuses them too);
- a document that expands to more than :data:`MAX_VALUES` values or nests
  deeper than :data:`MAX_DEPTH` levels. YAML aliases (``*name``) share one
  object, so a "billion laughs" document is small once parsed but enormous
  once copied, printed or validated: the values are counted as if every alias
  were written out, and counting stops at the limit.
"""

from __future__ import annotations

import errno
import stat
import tomllib
from pathlib import Path
from typing import Any

import yaml

from sweeplab.spec.errors import StudyError, short_repr

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "studies"
MAX_FILE_BYTES = 10 * 1024**2
MAX_VALUES = 200_000
MAX_DEPTH = 40


def builtin_studies() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.rglob("*.toml"))}


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def resolve_path(study: str | Path) -> Path:
    """A study file path, or the name of a built-in study.

    Raises:
        StudyError: no such file or built-in study, or the path is not a regular file.
    """
    p = Path(study)
    try:
        st = p.stat()
    except OSError as e:
        st, error = None, e
    if st is not None and stat.S_ISREG(st.st_mode):
        return p
    builtins = builtin_studies()
    if str(study) in builtins:
        return builtins[str(study)]
    if st is not None:
        return _refuse(f"{study}: {_kind(st.st_mode)}, not a study file (a study file is a TOML or YAML file)")
    if p.is_symlink():
        why = "a symbolic link loop" if getattr(error, "errno", None) == errno.ELOOP else "a symbolic link to a missing file"
        return _refuse(f"{study}: {why}, not a study file")
    if not isinstance(error, FileNotFoundError):
        return _refuse(f"{study}: cannot read: {error.strerror or error}")
    return _refuse(f"no study file {str(study)!r} and no built-in study of that name; built-in studies: "
                   f"{', '.join(builtins) or '(none)'}")


def _refuse(message: str):
    raise StudyError(message)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def read_text(path: Path) -> str:
    """The text of a study file, refusing one over :data:`MAX_FILE_BYTES` before reading it whole."""
    limit = MAX_FILE_BYTES
    too_big = f"{path}: {{}} is larger than the {_size(limit)} limit for a study file"
    size = path.stat().st_size
    if size > limit:
        raise StudyError(too_big.format(_size(size)))
    with open(path, "rb") as f:
        data = f.read(limit + 1)  # the file may have grown since stat()
    if len(data) > limit:
        raise StudyError(too_big.format("the file"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StudyError(f"{path}: not a text file (a study file is UTF-8 TOML or YAML)") from None


class _StudyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys in a mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *base" merges are meant to be overridden
                key = self.construct_object(key_node, deep=deep)
                try:
                    seen = key in first
                except TypeError:
                    continue  # unhashable: the base class says so
                if seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {short_repr(key, 60)} (first given at line {first[key] + 1})",
                        key_node.start_mark)
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_text(text: str, source: str) -> dict[str, Any]:
    """Parse TOML (or YAML, by the file's extension) into a table, checking its size and depth."""
    is_yaml = source.endswith((".yaml", ".yml"))
    try:
        if is_yaml:
            raw = yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - a SafeLoader subclass
        else:
            raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{source}: not valid TOML: {str(e).splitlines()[0]}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise StudyError(f"{source}: not valid YAML: {what}{where}") from None
    except RecursionError:
        raise StudyError(f"{source}: not valid {'YAML' if is_yaml else 'TOML'}: nested too deeply "
                         f"(at most {MAX_DEPTH} levels)") from None
    except ValueError as e:  # e.g. an integer with more than 4300 digits
        raise StudyError(f"{source}: not valid {'YAML' if is_yaml else 'TOML'}: {str(e).split(';')[0]}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{source}: a study file is a table with sections study, data, model, train, sweep")
    check_size(raw, source)
    return raw


def check_size(raw: Any, source: str, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> None:
    """Count the values of a parsed document as if every YAML alias were written out.

    Stops as soon as a limit is passed, so a "billion laughs" document or a
    recursive alias costs at most ``max_values`` steps.

    Raises:
        StudyError: more than ``max_values`` values, or nesting deeper than ``max_depth``.
    """
    stack: list[tuple[Any, int]] = [(raw, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > max_values:
            raise StudyError(f"{source}: the study expands to more than {max_values:,} values (a YAML alias "
                             "bomb, or lists too long to sweep); write fewer values")
        if depth > max_depth:
            raise StudyError(f"{source}: values nested more than {max_depth} levels deep (a recursive "
                             "YAML alias?)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            count += len(node)  # the keys
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)
